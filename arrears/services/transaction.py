"""All-or-nothing: every service act runs inside ``atomic()``.

Acts nest: an ``atomic()`` inside another joins the outer one, and only the outermost
commits (or rolls back). So a screen that records several acts at once (a visit sheet's
outcomes) wraps them in one ``atomic()`` and gets all of them or none. An exception raised
inside a nested block must be let out of the outermost one: what the inner block wrote
is not undone on its own.
"""
from contextlib import contextmanager

from ..extensions import db

_DEPTH = "arrears_atomic_depth"


@contextmanager
def atomic():
    """Commit what the block wrote, or roll all of it back if the block raises."""
    info = db.session.info
    depth = info.get(_DEPTH, 0)
    info[_DEPTH] = depth + 1
    try:
        yield db.session
        if depth == 0:
            db.session.commit()
    except BaseException:
        if depth == 0:
            db.session.rollback()
        raise
    finally:
        info[_DEPTH] = depth
