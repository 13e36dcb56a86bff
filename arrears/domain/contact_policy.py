"""The contact policy (SPEC §5): when and how often a household may be contacted.

Defaults: no contact between 21:00 and 08:00 local time; at most 3 contact attempts per
household in any 7 days; only the owner and registered household members are
contacted. A contact that breaks the policy may still be recorded, with a written
justification, and is flagged. Times are local (the estate's time zone), naive.
"""
from dataclasses import dataclass
from datetime import datetime, time, timedelta

QUIET_HOURS, TOO_MANY, NOT_HOUSEHOLD = "quiet_hours", "too_many", "not_household"


@dataclass(frozen=True)
class ContactPolicy:
    quiet_from: time = time(21, 0)
    quiet_until: time = time(8, 0)
    max_attempts: int = 3
    window_days: int = 7


def in_quiet_hours(moment: datetime, policy: ContactPolicy = ContactPolicy()):
    clock = moment.time()
    if policy.quiet_from > policy.quiet_until:  # the quiet hours run over midnight
        return clock >= policy.quiet_from or clock < policy.quiet_until
    return policy.quiet_from <= clock < policy.quiet_until


def attempts_in_window(moment: datetime, previous: list, policy: ContactPolicy = ContactPolicy()):
    """Earlier attempts within the ``window_days`` days before ``moment``."""
    since = moment - timedelta(days=policy.window_days)
    return [p for p in previous if since < p <= moment]


def busiest_window(moment: datetime, other: list, policy: ContactPolicy = ContactPolicy()):
    """The most of the ``other`` attempts that share one ``window_days`` window with an
    attempt at ``moment`` — earlier ones, and later ones too when an attempt is recorded
    after others that followed it. A window ``(end - window_days, end]`` holds ``moment``
    for ``end`` from ``moment`` to just before ``moment + window_days``; the count is
    highest with ``end`` at ``moment`` or at one of the attempts in that span."""
    span = timedelta(days=policy.window_days)
    ends = [moment] + [p for p in other if moment <= p < moment + span]
    return max(sum(1 for p in other if end - span < p <= end) for end in ends)


def breaches(moment: datetime, previous: list, reached: str, policy: ContactPolicy = ContactPolicy(),
             member_registered: bool = True):
    """What a contact at ``moment`` would break, given the household's ``previous``
    attempts (local datetimes; those recorded for later times count too): a list of ``quiet_hours``, ``too_many``, ``not_household``.
    A household member counts only when registered (``member_registered``)."""
    found = []
    if in_quiet_hours(moment, policy):
        found.append(QUIET_HOURS)
    if busiest_window(moment, previous, policy) >= policy.max_attempts:
        found.append(TOO_MANY)
    if reached == "other" or (reached == "household_member" and not member_registered):
        found.append(NOT_HOUSEHOLD)
    return found


def may_contact_today(now: datetime, previous: list, policy: ContactPolicy = ContactPolicy()):
    """True when one more attempt now would stay within the weekly count (for the work queue)."""
    return len(attempts_in_window(now, previous, policy)) < policy.max_attempts
