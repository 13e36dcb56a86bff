"""Best-time hints (when to call) and the payday a resident mentioned: shown on the work
queue and the household page; the payday is recorded from the household page."""
from datetime import datetime, timezone

from flask import Blueprint, flash, redirect, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from wtforms import IntegerField, StringField
from wtforms.validators import Length, NumberRange, Optional

from ..services.best_time import hints_for, record_payday
from ..services.errors import ServiceError
from .access import get_unit, role_required
from .formats import ldate
from .household import ActionForm, strip
from .refusals import refusal

bp = Blueprint("best_time", __name__, url_prefix="/households")

WEEKDAYS = (_l("Mondays"), _l("Tuesdays"), _l("Wednesdays"), _l("Thursdays"), _l("Fridays"), _l("Saturdays"),
            _l("Sundays"))


class PaydayForm(ActionForm):
    day_of_month = IntegerField(_l("Payday (day of the month)"), validators=[Optional(), NumberRange(1, 31)])
    note = StringField(_l("Note"), filters=[strip], validators=[Optional(), Length(max=200)])


@bp.app_template_global()
def call_hints(unit_ids):
    """``{unit_id: Hint}`` at this moment (see ``services.best_time``)."""
    return hints_for(list(unit_ids), datetime.now(timezone.utc))


@bp.app_template_global()
def window_text(window):
    """``Tuesdays 19:00–21:00`` (or ``any day``), or empty without a window."""
    if window is None:
        return ""
    hours = f"{window.start:%H:%M}–{window.end:%H:%M}"
    if window.weekday is None:
        return _("any day %(hours)s", hours=hours)
    return _("%(day)s %(hours)s", day=WEEKDAYS[window.weekday], hours=hours)


@bp.app_template_global()
def window_basis(window):
    if window.source == "household":
        return _("this household answered %(answered)s of %(calls)s calls then", answered=window.answered,
                 calls=window.calls)
    return _("the estate's households answered %(answered)s of %(calls)s calls then", answered=window.answered,
             calls=window.calls)


@bp.app_template_global()
def payday_text(hint):
    if not hint.payday:
        return ""
    first, last, _payday = hint.payday_days
    days = ldate(first) if first == last else _("%(first)s to %(last)s", first=ldate(first), last=ldate(last))
    return _("Paid on day %(day)s of the month: call %(days)s, just before the payday.", day=hint.payday, days=days)


@bp.post("/<int:unit_id>/payday")
@role_required("clerk", "manager")
def payday(unit_id):
    """Record (or clear, with an empty day) the payday the resident mentioned."""
    unit = get_unit(unit_id)
    form = PaydayForm(prefix="payday")
    back = redirect(url_for("household.show", unit_id=unit.id) + "#call-hint")
    if not form.validate():
        flash(_("Enter the payday as a day of the month from 1 to 31 (empty to clear it)."), "danger")
        return back
    try:
        record_payday(unit, form.day_of_month.data, current_user.username, form.note.data)
    except ServiceError as error:
        flash(refusal(error), "danger")
        return back
    if form.day_of_month.data:
        flash(_("Payday recorded: day %(day)s of the month.", day=form.day_of_month.data), "success")
    else:
        flash(_("Payday cleared."), "success")
    return back
