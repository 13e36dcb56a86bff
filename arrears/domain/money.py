"""Money: integer fen inside, two-decimal strings outside.

Invariants: an amount is an ``int`` of fen; it becomes a string only at the edge,
always with exactly two decimals; rounding is ROUND_HALF_UP to the fen and is done
by ``round_fen`` alone.
"""
import re
from decimal import ROUND_HALF_UP, Decimal

from .errors import InvalidAmount

_AMOUNT = re.compile(r"^(\d{1,13})(?:\.(\d{1,2}))?$")


def parse_amount(text, *, allow_zero=False):
    """Parse ``"1234.5"`` into fen (123450).

    Accepts digits with at most two decimals, no sign, no thousands separators.
    Raises ``InvalidAmount`` with a message fit for the user.
    """
    raw = (text or "").strip() if isinstance(text, str) else text
    if isinstance(raw, (int, Decimal)) and not isinstance(raw, bool):
        raw = format(Decimal(raw), "f")
    if isinstance(raw, float):
        raise InvalidAmount(f"amount {text!r} must be written as text, not a float")
    if not raw:
        raise InvalidAmount("amount is empty")
    if raw.startswith("-"):
        raise InvalidAmount(f"amount {raw} is negative")
    match = _AMOUNT.match(raw)
    if not match:
        if re.match(r"^\d+\.\d{3,}$", raw):
            raise InvalidAmount(f"amount {raw} has more than two decimals")
        raise InvalidAmount(f"amount {raw!r} is not a number like 1234.50")
    whole, cents = match.group(1), (match.group(2) or "").ljust(2, "0")
    fen = int(whole) * 100 + int(cents)
    if fen == 0 and not allow_zero:
        raise InvalidAmount("amount must be greater than 0.00")
    return fen


def format_fen(fen):
    """Format fen as a CNY string with exactly two decimals: 123450 -> "1234.50"."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(int(fen)), 100)
    return f"{sign}{whole}.{cents:02d}"


def round_fen(amount_fen):
    """Round a ``Decimal`` number of fen to an ``int`` of fen, ROUND_HALF_UP."""
    return int(Decimal(amount_fen).quantize(Decimal(1), rounding=ROUND_HALF_UP))
