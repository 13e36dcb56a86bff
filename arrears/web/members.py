"""The household-member register on the household page: add and remove (clerks and
managers). Members' phones show masked, like the owner's (SPEC §9)."""
from flask import Blueprint, flash, redirect, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from wtforms import SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional

from ..models import MEMBER_RELATIONS
from ..services.errors import ServiceError
from ..services.households import mask_phone
from ..services.members import active_members, add_member, remove_member
from .access import get_unit, role_required
from .household import MEMBER_RELATION_LABELS, ActionForm, _choices, strip

bp = Blueprint("members", __name__, url_prefix="/households")


class MemberForm(ActionForm):
    name = StringField(_l("Name"), filters=[strip], validators=[DataRequired(), Length(max=100)])
    relation = SelectField(_l("Relation to the owner"), choices=[], validators=[DataRequired()])
    phone = StringField(_l("Phone"), filters=[strip], validators=[Optional(), Length(max=30)])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.relation.choices = _choices(MEMBER_RELATION_LABELS, MEMBER_RELATIONS)


@bp.app_template_global()
def member_relation_choices():
    return [(key, str(MEMBER_RELATION_LABELS[key])) for key in MEMBER_RELATIONS]


@bp.app_template_global()
def household_members(unit_id):
    """``[(member, masked phone, relation label)]`` for the household page."""
    return [(m, mask_phone(m.phone), MEMBER_RELATION_LABELS.get(m.relation, m.relation))
            for m in active_members(unit_id)]


@bp.post("/<int:unit_id>/members")
@role_required("clerk", "manager")
def add(unit_id):
    """Register a household member."""
    unit = get_unit(unit_id)
    form = MemberForm(prefix="member")
    if not form.validate():
        flash(_("Enter the member's name (at most 100 characters) and relation."), "danger")
        return redirect(url_for("household.show", unit_id=unit.id) + "#members")
    try:
        member = add_member(unit, form.name.data, form.relation.data, form.phone.data, current_user.username)
    except ServiceError:
        flash(_("Enter the member's name, relation and a phone number of digits."), "danger")
        return redirect(url_for("household.show", unit_id=unit.id) + "#members")
    flash(_("%(name)s registered as a household member.", name=member.name), "success")
    return redirect(url_for("household.show", unit_id=unit.id) + "#members")


@bp.post("/<int:unit_id>/members/<int:member_id>/remove")
@role_required("clerk", "manager")
def remove(unit_id, member_id):
    """Take a member off the register (the record stays)."""
    unit = get_unit(unit_id)
    try:
        member = remove_member(unit, member_id, current_user.username)
    except ServiceError:
        flash(_("That household member is not on the register."), "danger")
        return redirect(url_for("household.show", unit_id=unit.id) + "#members")
    flash(_("%(name)s is no longer a registered household member.", name=member.name), "success")
    return redirect(url_for("household.show", unit_id=unit.id) + "#members")
