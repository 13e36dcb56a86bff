"""Amounts in Chinese capital numerals (人民币大写), as printed on receipts.

``amount_in_words(fen)`` is pure: integer fen in, the capital-numeral string out. It
follows the usual rules for 大写金额 (中国人民银行《正确填写票据和结算凭证的基本规定》):

- a run of zeros between two non-zero digits is written as one 零 (1005.00 → 壹仟零伍元整,
  1000001.00 → 壹佰万零壹元整), a zero ending a 万/亿 group is not written when the next
  group starts with a non-zero 仟 (107000.00 → 拾万柒仟元整);
- 元 is followed by 整 when there are no fen (10.50 → 拾元伍角整, 1.00 → 壹元整);
- a zero 角 before a non-zero 分 is written 零 (100.05 → 壹佰元零伍分); below one yuan
  neither 元 nor a leading 零 is written (0.05 → 伍分, 0.50 → 伍角整);
- a leading 壹拾 is written 拾 (10.00 → 拾元整, 100000.00 → 拾万元整), as agreed for
  this program's receipts;
- zero is 零元整.

Negative amounts raise ``ValueError``: a receipt is never issued for one.
"""
DIGITS = "零壹贰叁肆伍陆柒捌玖"
PLACES = ("", "拾", "佰", "仟")  # within a group of four digits
GROUPS = ("", "万", "亿", "万亿")  # 10^0, 10^4, 10^8, 10^12


def _yuan_in_words(yuan):
    """Capital numerals of a positive integer number of yuan, without 元."""
    groups = []
    while yuan:
        groups.append(yuan % 10000)
        yuan //= 10000
    words = []
    zero_pending = False
    for group_index in range(len(groups) - 1, -1, -1):
        group = groups[group_index]
        if group == 0:
            zero_pending = bool(words)
            continue
        for place in range(3, -1, -1):
            digit = group // 10 ** place % 10
            if digit == 0:
                zero_pending = zero_pending or bool(words)
                continue
            if zero_pending:
                words.append("零")
                zero_pending = False
            words.append(DIGITS[digit] + PLACES[place])
        words.append(GROUPS[group_index])
        # A zero at the end of a group is read only if the next group starts with zeros.
        zero_pending = False
        if group_index and groups[group_index - 1] < 1000:
            zero_pending = True
    text = "".join(words)
    if text.startswith("壹拾"):
        text = text[1:]
    return text


def amount_in_words(fen):
    """``fen`` (int, ≥ 0) → e.g. ``壹仟贰佰叁拾肆元伍角整`` for 123450. Raises ``ValueError``
    for a negative or absurdly large amount and ``TypeError`` for anything but an int."""
    if isinstance(fen, bool) or not isinstance(fen, int):
        raise TypeError(f"amount_in_words takes integer fen, not {type(fen).__name__}")
    if fen < 0:
        raise ValueError("a negative amount has no words on a receipt")
    if fen >= 10 ** 18:
        raise ValueError("amount too large for capital numerals (below 10^16 yuan)")
    if fen == 0:
        return "零元整"
    yuan, rest = divmod(fen, 100)
    jiao, cent = divmod(rest, 10)
    text = _yuan_in_words(yuan) + "元" if yuan else ""
    if jiao:
        text += DIGITS[jiao] + "角"
    elif cent and yuan:
        text += "零"
    if cent:
        text += DIGITS[cent] + "分"
    else:
        text += "整"
    return text
