"""Who may do what: role checks and the one helper every lookup of a household goes through.

A lawyer sees a household only while it is escalated to ``legal`` and the current case's
last ``lawyer_assigned`` step names them (``services.cases.assigned_lawyer``); anything
else is a 404, so that they learn nothing of the others. Lawyers change nothing: every
state-changing route is ``role_required`` without ``lawyer`` (403), except the evidence
bundle's export (``cases.bundle``), which they may do for their own households.
"""
from functools import wraps

from flask import abort
from flask_login import current_user, login_required
from sqlalchemy import select

from ..extensions import db
from ..models import Escalation, Unit
from ..services.cases import assigned_lawyer


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


def lawyer_may_see(unit_id, username):
    """True while the household is escalated to legal and its case is assigned to ``username``."""
    return is_escalated_to_legal(unit_id) and assigned_lawyer(unit_id) == username


def get_unit(unit_id):
    """The unit the current user may see, or 404: lawyers see only the households escalated
    to ``legal`` and assigned to them (a 404, not a 403, so that they learn nothing of the others)."""
    unit = db.session.get(Unit, unit_id)
    if unit is None:
        abort(404)
    if current_user.role == "lawyer" and not lawyer_may_see(unit.id, current_user.username):
        abort(404)
    return unit
