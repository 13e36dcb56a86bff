"""Commission schemes (提成): what a collector earns on the money recovered in a month.

A scheme is one of three kinds, written as a small JSON definition (amounts are yuan
strings with at most two decimals, rates decimal strings from 0 to 1 inclusive):

- ``fixed``: ``{"rate": "0.04"}`` — the whole amount at one rate;
- ``tiered_marginal``: ``{"tiers": [{"up_to": "100000.00", "rate": "0.04"},
  {"up_to": "200000.00", "rate": "0.05"}, {"up_to": null, "rate": "0.06"}]}`` — each
  tier's rate applies to the part of the amount inside that tier (as income tax does);
- ``tiered_whole``: the same tiers, but the whole amount is paid at the rate of the
  one tier that contains it;
- any kind may add ``"bonus": {"every": "50000.00", "amount": "500.00"}``: a fixed sum
  for each full step recovered.

Invariants kept here:

- tiers are strictly increasing; only the last is open (``"up_to": null``) and the last
  must be open, so every amount falls in exactly one tier; a tier "up to X" includes X
  (tier n covers the amounts above tier n-1's limit, up to and including its own);
- each line of the working is its base × its rate rounded ROUND_HALF_UP to the fen,
  once; the total is the sum of the lines (no second rounding);
- the bonus is ``floor(recovered / every) × amount``: reaching a step exactly counts;
- nothing recovered earns nothing; a negative amount recovered is refused;
- in a marginal scheme the bases of the tier lines add up to the amount recovered, and
  the total never falls when the amount recovered grows;
- ``parse_scheme(kind, scheme_definition(s)) == s``: a stored definition reads back as
  the scheme it was written from.

Every refusal is a ``SchemeError`` whose message says what is wrong and where (``tier 2:
up to 100000.00 must be above tier 1's 200000.00``); it also carries a ``code``, the
place (``where``) and the figures (``params``), so that the web layer can put a
translated message next to the field at fault.
"""
import json
import re
from dataclasses import dataclass
from decimal import Decimal

from .money import format_fen, round_fen

KINDS = ("fixed", "tiered_marginal", "tiered_whole")
TIERED = ("tiered_marginal", "tiered_whole")
# Rates are exact to a millionth (0.045 = 4.5%; 0.0425 = 4.25%): plenty for a percentage
# with up to four decimals, and a bound on what a definition may hold.
MAX_RATE_PLACES = 6
_RATE = re.compile(r"^\d+(?:\.\d+)?$")
_AMOUNT = re.compile(r"^(\d{1,13})(?:\.(\d+))?$")


class SchemeError(ValueError):
    """A definition (or an amount to compute on) was refused.

    ``str(error)`` is the English message; ``code`` names the rule (see the codes below),
    ``where`` the place: ``"kind"``, ``"definition"``, ``"rate"``, ``"tiers"``,
    ``("tier", n, "up_to" | "rate" | None)`` with n counted from 1, ``("bonus", "every" |
    "amount" | None)`` or ``"recovered"``; ``params`` the figures the message quotes."""

    def __init__(self, message, code="invalid", where=None, **params):
        super().__init__(message)
        self.code = code
        self.where = where
        self.params = params


@dataclass(frozen=True)
class Tier:
    """Amounts above the previous tier's limit up to and including ``up_to_fen`` (fen;
    ``None``: no upper limit, the last tier only) earn ``rate`` (``Decimal`` fraction)."""
    up_to_fen: int | None
    rate: Decimal


@dataclass(frozen=True)
class Bonus:
    """``amount_fen`` for each full ``every_fen`` recovered."""
    every_fen: int
    amount_fen: int


@dataclass(frozen=True)
class Scheme:
    """A parsed scheme: ``rate`` for ``fixed`` (``tiers`` empty), ``tiers`` for the tiered
    kinds (``rate`` None); ``bonus`` or None. Build it with ``parse_scheme``, which checks it."""
    kind: str
    rate: Decimal | None
    tiers: tuple
    bonus: Bonus | None


@dataclass(frozen=True)
class Line:
    """One line of the working.

    ``kind`` ``"rate"`` (a fixed scheme), ``"tier"`` (a tier of a tiered scheme) or
    ``"bonus"``. ``lower_fen``/``upper_fen`` bound the band (above lower, up to and
    including upper; ``None``: no limit); ``base_fen`` is what the rate applies to (for a
    bonus: the whole amount recovered); ``rate`` the ``Decimal`` rate (None for a bonus);
    ``count`` the number of bonus steps reached (None otherwise); ``amount_fen`` what the
    line earns, in fen."""
    kind: str
    lower_fen: int
    upper_fen: int | None
    base_fen: int
    rate: Decimal | None
    count: int | None
    amount_fen: int


@dataclass(frozen=True)
class Working:
    """The commission on ``recovered_fen``: its ``lines`` and ``total_fen`` (their sum)."""
    recovered_fen: int
    lines: tuple
    total_fen: int


# -- parsing -----------------------------------------------------------------------------

def _tier_prefix(number):
    return f"tier {number}: "


def _check_keys(mapping, required, optional, where, prefix):
    for key in required:
        if key not in mapping:
            raise SchemeError(f"{prefix}{key!r} is missing", "missing_key", where, key=key)
    for key in mapping:
        if key not in required and key not in optional:
            raise SchemeError(f"{prefix}unknown key {key!r} (expected {', '.join(required + optional)})",
                              "extra_key", where, key=str(key))


def _parse_rate(value, where, prefix):
    """A rate as a normalised ``Decimal`` between 0 and 1 (``"0.040"`` -> ``Decimal("0.04")``)."""
    if isinstance(value, bool) or isinstance(value, float):
        raise SchemeError(f"{prefix}rate {value!r} must be written as text, such as \"0.04\"",
                          "rate_not_number", where, value=str(value))
    if isinstance(value, (int, Decimal)):
        text = format(Decimal(value), "f")
    elif isinstance(value, str):
        text = value.strip()
    else:
        raise SchemeError(f"{prefix}rate {value!r} is not a number like 0.04", "rate_not_number", where,
                          value=str(value))
    if text.startswith("-") and _RATE.match(text[1:]):
        raise SchemeError(f"{prefix}rate {text} must be between 0 and 1", "rate_out_of_range", where, value=text)
    if not _RATE.match(text):
        raise SchemeError(f"{prefix}rate {text!r} is not a number like 0.04", "rate_not_number", where, value=text)
    rate = Decimal(text)
    if rate > 1:
        raise SchemeError(f"{prefix}rate {text} must be between 0 and 1", "rate_out_of_range", where, value=text)
    if len(text.partition(".")[2].rstrip("0")) > MAX_RATE_PLACES:
        raise SchemeError(f"{prefix}rate {text} has more than {MAX_RATE_PLACES} decimal places",
                          "rate_too_precise", where, value=text, places=MAX_RATE_PLACES)
    return rate.normalize() if rate else Decimal(0)


def _parse_money(value, label, where, prefix):
    """Yuan text (or an int/Decimal of yuan) as fen, at most two decimals, not negative."""
    if isinstance(value, bool) or isinstance(value, float):
        raise SchemeError(f"{prefix}{label} {value!r} must be written as text, such as \"50000.00\"",
                          "amount_not_number", where, value=str(value))
    if isinstance(value, (int, Decimal)):
        text = format(Decimal(value), "f")
    elif isinstance(value, str):
        text = value.strip()
    else:
        raise SchemeError(f"{prefix}{label} {value!r} is not an amount like 50000.00", "amount_not_number",
                          where, value=str(value))
    if text.startswith("-") and _AMOUNT.match(text[1:]):
        raise SchemeError(f"{prefix}{label} {text} is negative", "amount_negative", where, value=text)
    match = _AMOUNT.match(text)
    if not match:
        raise SchemeError(f"{prefix}{label} {text!r} is not an amount like 50000.00", "amount_not_number",
                          where, value=text)
    whole, cents = match.group(1), match.group(2) or ""
    if len(cents) > 2:
        raise SchemeError(f"{prefix}{label} {text} has more than two decimals", "amount_too_precise", where,
                          value=text)
    return int(whole) * 100 + int(cents.ljust(2, "0"))


def _parse_tiers(raw):
    if not isinstance(raw, list) or not raw:
        raise SchemeError("tiers must be a non-empty list of {\"up_to\", \"rate\"}", "tiers_not_list", "tiers")
    tiers = []
    previous_fen = 0
    for number, item in enumerate(raw, start=1):
        prefix = _tier_prefix(number)
        if not isinstance(item, dict):
            raise SchemeError(f"{prefix}must be an object with up_to and rate", "tier_not_object",
                              ("tier", number, None), tier=number)
        _check_keys(item, ("up_to", "rate"), (), ("tier", number, None), prefix)
        if item["up_to"] is None:
            up_to_fen = None
        else:
            up_to_fen = _parse_money(item["up_to"], "up to", ("tier", number, "up_to"), prefix)
        rate = _parse_rate(item["rate"], ("tier", number, "rate"), prefix)
        tiers.append(Tier(up_to_fen, rate))
    for number, tier in enumerate(tiers, start=1):
        prefix = _tier_prefix(number)
        last = number == len(tiers)
        if tier.up_to_fen is None:
            if not last:
                raise SchemeError(f"{prefix}only the last tier may have no upper limit (up to null)",
                                  "open_tier_not_last", ("tier", number, "up_to"), tier=number)
            continue
        if number == 1 and tier.up_to_fen == 0:
            raise SchemeError(f"{prefix}up to {format_fen(tier.up_to_fen)} must be above 0.00",
                              "tier_not_positive", ("tier", number, "up_to"), tier=number,
                              up_to=format_fen(tier.up_to_fen))
        if number > 1 and tier.up_to_fen <= previous_fen:
            raise SchemeError(f"{prefix}up to {format_fen(tier.up_to_fen)} must be above tier {number - 1}'s "
                              f"{format_fen(previous_fen)}", "tier_not_increasing", ("tier", number, "up_to"),
                              tier=number, up_to=format_fen(tier.up_to_fen), previous_tier=number - 1,
                              previous=format_fen(previous_fen))
        previous_fen = tier.up_to_fen
        if last:
            raise SchemeError(f"{prefix}the last tier must have no upper limit (up to null), so that every "
                              "amount falls in a tier", "last_tier_not_open", ("tier", number, "up_to"),
                              tier=number)
    return tuple(tiers)


def _parse_bonus(raw):
    prefix = "bonus: "
    if not isinstance(raw, dict):
        raise SchemeError("bonus must be an object with every and amount", "bonus_not_object", ("bonus", None))
    _check_keys(raw, ("every", "amount"), (), ("bonus", None), prefix)
    every_fen = _parse_money(raw["every"], "every", ("bonus", "every"), prefix)
    if every_fen <= 0:
        raise SchemeError(f"{prefix}every {format_fen(every_fen)} must be above 0.00", "bonus_step_not_positive",
                          ("bonus", "every"), every=format_fen(every_fen))
    amount_fen = _parse_money(raw["amount"], "amount", ("bonus", "amount"), prefix)
    return Bonus(every_fen, amount_fen)


def parse_scheme(kind, definition):
    """The ``Scheme`` that ``definition`` (a dict, or its JSON text) describes for ``kind``.

    Raises ``SchemeError`` for an unknown kind, text that is not a JSON object, a missing
    or unknown key, a rate that is not a number from 0 to 1 (at most six decimal places),
    an amount that is negative, not a number or has more than two decimals, tiers that
    are not strictly increasing, an open tier before the last, a last tier with a limit,
    a bonus step that is not above 0.00, tiers on a fixed scheme or a rate on a tiered one."""
    if kind not in KINDS:
        raise SchemeError(f"kind {kind!r} must be one of {', '.join(KINDS)}", "unknown_kind", "kind",
                          value=str(kind))
    if isinstance(definition, (str, bytes)):
        try:
            definition = json.loads(definition, parse_float=Decimal)
        except ValueError as error:
            raise SchemeError(f"definition is not valid JSON: {error}", "not_json", "definition") from None
    if not isinstance(definition, dict):
        raise SchemeError("definition must be a JSON object", "not_object", "definition")
    if kind == "fixed":
        if "tiers" in definition:
            raise SchemeError("a fixed scheme has one rate, not tiers", "fixed_with_tiers", "tiers")
        _check_keys(definition, ("rate",), ("bonus",), "definition", "definition: ")
        rate, tiers = _parse_rate(definition["rate"], "rate", ""), ()
    else:
        if "rate" in definition:
            raise SchemeError("a tiered scheme has tiers, not one rate", "tiered_with_rate", "rate")
        _check_keys(definition, ("tiers",), ("bonus",), "definition", "definition: ")
        rate, tiers = None, _parse_tiers(definition["tiers"])
    bonus = _parse_bonus(definition["bonus"]) if definition.get("bonus") is not None else None
    return Scheme(kind, rate, tiers, bonus)


def _rate_text(rate):
    return format(rate.normalize() if rate else Decimal(0), "f")


def scheme_definition(scheme):
    """The definition of ``scheme`` as a JSON-ready dict (amounts and rates as text), the
    normalised form that is stored: ``parse_scheme(scheme.kind, scheme_definition(s)) == s``."""
    if scheme.kind == "fixed":
        definition = {"rate": _rate_text(scheme.rate)}
    else:
        definition = {"tiers": [{"up_to": None if tier.up_to_fen is None else format_fen(tier.up_to_fen),
                                 "rate": _rate_text(tier.rate)} for tier in scheme.tiers]}
    if scheme.bonus is not None:
        definition["bonus"] = {"every": format_fen(scheme.bonus.every_fen),
                               "amount": format_fen(scheme.bonus.amount_fen)}
    return definition


# -- computing ---------------------------------------------------------------------------

def _bands(tiers):
    """``(lower_fen, upper_fen, rate)`` per tier."""
    lower = 0
    for tier in tiers:
        yield lower, tier.up_to_fen, tier.rate
        lower = tier.up_to_fen


def _line(kind, lower, upper, base, rate):
    return Line(kind, lower, upper, base, rate, None, round_fen(Decimal(base) * rate))


def commission(scheme, recovered_fen):
    """The commission on ``recovered_fen`` (fen recovered in the period) under ``scheme``.

    Lines: a fixed scheme has one ``rate`` line; a marginal scheme one ``tier`` line for
    each tier the amount reaches (the first tier always, with base 0 when nothing was
    recovered); a whole scheme one ``tier`` line, the tier containing the amount; a scheme
    with a bonus ends with a ``bonus`` line (count 0 below the first step).
    Raises ``SchemeError`` (code ``recovered_negative``) for a negative amount, or one
    that is not an ``int`` of fen."""
    if isinstance(recovered_fen, bool) or not isinstance(recovered_fen, int):
        raise SchemeError(f"the amount recovered {recovered_fen!r} must be a whole number of fen",
                          "recovered_not_fen", "recovered")
    if recovered_fen < 0:
        raise SchemeError(f"the amount recovered {format_fen(recovered_fen)} is negative", "recovered_negative",
                          "recovered", value=format_fen(recovered_fen))
    lines = []
    if scheme.kind == "fixed":
        lines.append(_line("rate", 0, None, recovered_fen, scheme.rate))
    elif scheme.kind == "tiered_marginal":
        for lower, upper, rate in _bands(scheme.tiers):
            if lines and recovered_fen <= lower:
                break
            top = recovered_fen if upper is None else min(recovered_fen, upper)
            lines.append(_line("tier", lower, upper, max(top - lower, 0), rate))
    elif scheme.kind == "tiered_whole":
        for lower, upper, rate in _bands(scheme.tiers):
            if upper is None or recovered_fen <= upper:
                lines.append(_line("tier", lower, upper, recovered_fen, rate))
                break
    else:
        raise SchemeError(f"kind {scheme.kind!r} must be one of {', '.join(KINDS)}", "unknown_kind", "kind",
                          value=str(scheme.kind))
    if scheme.bonus is not None:
        count = recovered_fen // scheme.bonus.every_fen
        lines.append(Line("bonus", 0, None, recovered_fen, None, count, count * scheme.bonus.amount_fen))
    return Working(recovered_fen, tuple(lines), sum(line.amount_fen for line in lines))


# -- words -------------------------------------------------------------------------------

def percent_text(rate):
    """A rate as a percentage without trailing zeros: ``Decimal("0.045")`` -> ``"4.5"``."""
    value = (rate * 100).normalize() if rate else Decimal(0)
    return format(value, "f")


def band_text(lower_fen, upper_fen):
    """``"0.00 – 100000.00"`` or ``"above 200000.00"``."""
    if upper_fen is None:
        return f"above {format_fen(lower_fen)}" if lower_fen else "any amount"
    return f"{format_fen(lower_fen)} – {format_fen(upper_fen)}"


def describe(working, scheme=None):
    """The working in English, one line each, then the total (the web layer has its own,
    translated, table): ``"100000.00 – 200000.00: 50000.00 × 5% = 2500.00"``. Given the
    ``scheme``, a bonus line also names its step and its amount per step."""
    words = []
    for line in working.lines:
        if line.kind == "bonus":
            step = ""
            if scheme is not None and scheme.bonus is not None:
                step = (f" × {format_fen(scheme.bonus.amount_fen)} (one for each full "
                        f"{format_fen(scheme.bonus.every_fen)})")
            words.append(f"bonus on {format_fen(line.base_fen)}: {line.count} step(s){step} = "
                         f"{format_fen(line.amount_fen)}")
        else:
            words.append(f"{band_text(line.lower_fen, line.upper_fen)}: {format_fen(line.base_fen)} × "
                         f"{percent_text(line.rate)}% = {format_fen(line.amount_fen)}")
    words.append(f"total on {format_fen(working.recovered_fen)}: {format_fen(working.total_fen)}")
    return words
