"""All-or-nothing: every service act runs inside ``atomic()``."""
from contextlib import contextmanager

from ..extensions import db


@contextmanager
def atomic():
    """Commit what the block wrote, or roll all of it back if the block raises."""
    try:
        yield db.session
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
