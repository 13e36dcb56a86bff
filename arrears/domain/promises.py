"""Promises to pay (SPEC §4): kept or broken is derived from the payments, never stored.

A promise of ``amount_fen`` made on ``made_on`` for ``promised_on`` is
- ``kept`` once the payments dated from ``made_on`` through ``promised_on`` (inclusive)
  sum to at least the amount — it can be kept early;
- ``broken`` when ``promised_on`` has passed (``as_of`` is later) without that;
- ``pending`` before then.
Only payments dated on or before ``as_of`` count; the caller leaves reversed ones out.
"""
from datetime import date

KEPT, BROKEN, PENDING = "kept", "broken", "pending"
PROMISE_STATUSES = (PENDING, KEPT, BROKEN)


def paid_towards(made_on: date, promised_on: date, payments, as_of: date):
    """Fen paid from ``made_on`` through ``promised_on`` (and no later than ``as_of``);
    ``payments`` are ``(paid_on, amount_fen)`` pairs."""
    last = min(promised_on, as_of)
    return sum(amount for day, amount in payments if made_on <= day <= last)


def promise_status(amount_fen: int, made_on: date, promised_on: date, payments, as_of: date):
    """``kept``, ``broken`` or ``pending`` on ``as_of`` (see the module docstring)."""
    if paid_towards(made_on, promised_on, payments, as_of) >= amount_fen:
        return KEPT
    if as_of > promised_on:
        return BROKEN
    return PENDING
