"""Disputes about service (SPEC §5): their own lifecycle, apart from the debt.

A dispute is ``open`` when raised, may be taken ``in_progress``, and ends ``resolved``
or ``rejected``; an ended dispute can be reopened. The allowed moves are this one
table; a dispute counts as open (shown wherever the debt is) until it has ended.
"""

OPEN, IN_PROGRESS, RESOLVED, REJECTED = "open", "in_progress", "resolved", "rejected"
DISPUTE_STATUSES = (OPEN, IN_PROGRESS, RESOLVED, REJECTED)

TRANSITIONS = {
    OPEN: (IN_PROGRESS, RESOLVED, REJECTED),
    IN_PROGRESS: (RESOLVED, REJECTED),
    RESOLVED: (OPEN,),
    REJECTED: (OPEN,),
}

ACTIVE_STATUSES = (OPEN, IN_PROGRESS)


def may_move(current: str, new: str):
    """True when a dispute in ``current`` may be moved to ``new``."""
    return new in TRANSITIONS.get(current, ())


def is_active(status: str | None):
    """An open or in-progress dispute (a dispute with no status yet counts as open)."""
    return status is None or status in ACTIVE_STATUSES
