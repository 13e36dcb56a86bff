"""Who may do what: role checks and the one helper every lookup of a household goes through."""
from functools import wraps

from flask import abort
from flask_login import current_user, login_required
from sqlalchemy import select

from ..extensions import db
from ..models import Escalation, Unit


def role_required(*roles):
    """Logged in, with one of ``roles`` (an admin also passes a manager's check); else 403."""
    def decorate(view):
        @wraps(view)
        @login_required
        def wrapper(*args, **kwargs):
            if not current_user.has_role(*roles):
                abort(403)
            return view(*args, **kwargs)
        return wrapper
    return decorate


def is_escalated_to_legal(unit_id):
    last = db.session.execute(select(Escalation.stage).where(Escalation.unit_id == unit_id)
                              .order_by(Escalation.id.desc()).limit(1)).scalar_one_or_none()
    return last == "legal"


def get_unit(unit_id):
    """The unit the current user may see, or 404: lawyers see only households escalated
    to ``legal`` (a 404, not a 403, so that they learn nothing of the others)."""
    unit = db.session.get(Unit, unit_id)
    if unit is None:
        abort(404)
    if current_user.role == "lawyer" and not is_escalated_to_legal(unit.id):
        abort(404)
    return unit
