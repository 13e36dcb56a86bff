"""Sample contexts for the notice and receipt templates: the contract the notice and
receipt services build (``notices/notice.html``, ``notices/receipt.html``).

Amounts are ready strings with two decimals, dates ``datetime.date``. The figures are
consistent with the default late-fee policy (0.1% a day, cap 100% of the charge): the
first line is the SPEC §10 example (300.00 due 2026-01-31, 100.00 paid 2026-03-02, as of
2026-11-23: 62.20 late fee).
"""
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

AS_OF = date(2026, 11, 23)

OFFICE = {
    "name": "示例花园物业服务中心",
    "address": "杭州市西湖区文三路 100 号示例花园 2 栋 1 楼",
    "phone": "0571-8888 0001",
    "hours": "周一至周日 8:30–17:30",
    "bank_name": "中国工商银行杭州文三路支行",
    "bank_account_name": "杭州示例物业服务有限公司",
    "bank_account_no": "1202 0012 0900 1234 567",
    "wechat": "关注公众号“示例花园物业”，进入“物业缴费”",
    "alipay": "支付宝搜索“示例花园物业缴费”",
    "relief_contact": "客服主管 王女士 0571-8888 0000",
}

CHAIN_HEAD = {"seq": 1234, "hash16": "3f9a0c1d2e4b5a69"}


def _fen(text):
    return int(Decimal(text) * 100)


def _money(fen):
    return f"{fen // 100}.{fen % 100:02d}"


def _line(period, due, amount, principal_outstanding, late_fee_accrued, late_fee_waived="0.00"):
    outstanding = max(_fen(late_fee_accrued) - _fen(late_fee_waived), 0)
    return {"period": period, "fee_item": "物业管理费", "due_date": due, "amount": amount,
            "principal_outstanding": principal_outstanding,
            "days_overdue": (AS_OF - due).days if _fen(principal_outstanding) else 0,
            "late_fee_accrued": late_fee_accrued, "late_fee_waived": late_fee_waived,
            "principal_waived": "0.00", "late_fee_outstanding": _money(outstanding),
            "total": _money(_fen(principal_outstanding) + outstanding)}


def _late_fee(amount, due):
    """0.1% a day of an unpaid ``amount`` from the day after ``due`` to AS_OF, capped at 100%."""
    days = (AS_OF - due).days
    fee = min(Decimal(amount) * Decimal("0.001") * days, Decimal(amount))
    return str(fee.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def _totals(lines):
    def total(key):
        return _money(sum(_fen(line[key]) for line in lines))
    return {"principal_outstanding": total("principal_outstanding"),
            "late_fee_outstanding": total("late_fee_outstanding"),
            "late_fee_waived": total("late_fee_waived"), "principal_waived": total("principal_waived"),
            "total_outstanding": total("total")}


def _month_end(year, month):
    return date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)


def sample_lines(count=4):
    """``count`` unpaid monthly charges from 2026-01 on (the first partly paid)."""
    lines = [_line("2026-01", date(2026, 1, 31), "300.00", "200.00", "62.20")]
    year, month = 2026, 2
    while len(lines) < count:
        due = _month_end(year, month)
        if due >= AS_OF:  # long samples go back in time instead
            year, month = 2022, 1
            continue
        waived = "10.00" if (year, month) == (2026, 3) else "0.00"
        lines.append(_line(f"{year}-{month:02d}", due, "300.00", "300.00", _late_fee("300.00", due), waived))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return sorted(lines, key=lambda line: line["due_date"])


def sample_notice_context(kind="demand", lines=4, copy=False):
    charge_lines = sample_lines(lines)
    return {
        "kind": kind,
        "serial": {"reminder": "SL-2026-000121", "demand": "SL-2026-000123", "final": "SL-2026-000130"}[kind],
        "issued_on": AS_OF, "as_of": AS_OF,
        "deadline_days": None if kind == "reminder" else 15,
        "copy": copy,
        "office": dict(OFFICE),
        "estate": "示例花园", "unit_ref": "示例花园/3栋/1201", "owner_name": "张伟",
        "lines": charge_lines,
        "totals": _totals(charge_lines),
        "credit": "0.00",
        "policy": {"daily_rate_percent": "0.1", "grace_days": 0, "cap_percent": "100"},
        "verify_url": "http://127.0.0.1:5000/verify/SL-2026-000123",
        "chain_head": dict(CHAIN_HEAD),
    }


def sample_receipt_context(copy=False, copy_no=0):
    return {
        "serial": "SJ-2026-000045", "issued_on": date(2026, 3, 1), "copy": copy, "copy_no": copy_no,
        "office": dict(OFFICE),
        "estate": "示例花园", "unit_ref": "示例花园/5栋/0802", "owner_name": "李秀英",
        "payment": {"amount": "1234.50", "amount_words": "壹仟贰佰叁拾肆元伍角整",
                    "paid_on": date(2026, 3, 1), "method": "wechat", "reference": "WX20260301001"},
        "allocations": [
            {"period": "2025-10", "fee_item": "物业管理费", "principal": "300.00", "late_fee": "0.00"},
            {"period": "2025-11", "fee_item": "物业管理费", "principal": "300.00", "late_fee": "0.00"},
            {"period": "2025-12", "fee_item": "物业管理费", "principal": "300.00", "late_fee": "0.00"},
            {"period": "2025-12", "fee_item": "公共能耗分摊费", "principal": "45.00", "late_fee": "0.00"},
            {"period": "2025-10", "fee_item": "物业管理费", "principal": "0.00", "late_fee": "36.90"},
            {"period": "2025-11", "fee_item": "物业管理费", "principal": "0.00", "late_fee": "27.60"},
            {"period": "2026-01", "fee_item": "物业管理费", "principal": "225.00", "late_fee": "0.00"},
        ],
        "credit_after": "0.00",
        "verify_url": "http://127.0.0.1:5000/verify/SJ-2026-000045",
        "chain_head": {"seq": 1187, "hash16": "a41be07c93d25f10"},
    }
