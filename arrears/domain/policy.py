"""Late-fee policies, versioned by effective date (SPEC §3).

Invariant: a policy governs the days on and after its ``effective_from`` until the
next policy's; adding a policy never changes a day before its effective date. The
earliest policy also governs any day before it, since there is nothing else.
"""
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from .errors import InvalidPolicy

ALLOCATIONS = ("principal_first", "charge_by_charge")
# Rates are exact in millionths so that fast reports can work in integer micro-fen.
MAX_RATE_PLACES = 6
MAX_CAP_PLACES = 4


@dataclass(frozen=True)
class LateFeePolicy:
    """One version of an estate's policy.

    ``daily_rate`` is a ``Decimal`` fraction per day (0.001 = 1‰); ``cap_ratio`` is a
    ``Decimal`` multiple of the charge amount, or ``None`` for no cap.
    Raises ``InvalidPolicy`` when a setting is out of range.
    """

    effective_from: date = date(1970, 1, 1)
    daily_rate: Decimal = Decimal("0.001")
    grace_days: int = 0
    cap_ratio: Decimal | None = Decimal("1.0")
    allocation: str = "principal_first"

    def __post_init__(self):
        if not isinstance(self.daily_rate, Decimal):
            raise InvalidPolicy("daily_rate must be a Decimal")
        if self.daily_rate < 0 or self.daily_rate > 1:
            raise InvalidPolicy(f"daily_rate {self.daily_rate} must be between 0 and 1")
        if self.daily_rate.as_tuple().exponent < -MAX_RATE_PLACES:
            raise InvalidPolicy(
                f"daily_rate {self.daily_rate} has more than {MAX_RATE_PLACES} decimal places")
        if not isinstance(self.grace_days, int) or not 0 <= self.grace_days <= 3650:
            raise InvalidPolicy(f"grace_days {self.grace_days} must be a whole number 0–3650")
        if self.cap_ratio is not None:
            if not isinstance(self.cap_ratio, Decimal) or self.cap_ratio < 0:
                raise InvalidPolicy(f"cap_ratio {self.cap_ratio} must be a non-negative Decimal or empty")
            if self.cap_ratio.as_tuple().exponent < -MAX_CAP_PLACES:
                raise InvalidPolicy(
                    f"cap_ratio {self.cap_ratio} has more than {MAX_CAP_PLACES} decimal places")
        if self.allocation not in ALLOCATIONS:
            raise InvalidPolicy(
                f"allocation {self.allocation!r} must be one of {', '.join(ALLOCATIONS)}")

    def cap_fen(self, amount_fen):
        """The most late fee a charge of ``amount_fen`` may accrue, as a Decimal of fen."""
        return None if self.cap_ratio is None else self.cap_ratio * amount_fen


class PolicySchedule:
    """The versions of one estate's policy, looked up by day."""

    def __init__(self, policies=()):
        ordered = sorted(policies, key=lambda p: p.effective_from)
        if not ordered:
            ordered = [LateFeePolicy()]
        for earlier, later in zip(ordered, ordered[1:]):
            if earlier.effective_from == later.effective_from:
                raise InvalidPolicy(f"two policies take effect on {later.effective_from}")
        self.policies = tuple(ordered)

    def on(self, day):
        """The policy that governs ``day``."""
        current = self.policies[0]
        for policy in self.policies[1:]:
            if policy.effective_from <= day:
                current = policy
            else:
                break
        return current

    def changes_after(self, day):
        """Effective dates later than ``day`` (the days on which the rules change)."""
        return [p.effective_from for p in self.policies[1:] if p.effective_from > day]

    def next_change_after(self, day):
        """The first effective date later than ``day``, or None."""
        later = self.changes_after(day)
        return later[0] if later else None

    @property
    def change_days(self):
        return [p.effective_from for p in self.policies[1:]]
