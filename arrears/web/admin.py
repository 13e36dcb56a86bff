"""Administration: users, estates (office profile), fee items and late-fee policies (administrators only).

Every form is checked here, field by field, with messages next to the field; the acts
themselves, and the rules no form can see (the last active admin, a policy date already
taken), are in ``services/admin.py``. Bad input answers 422 with the form again.
"""
import re
from datetime import date
from decimal import Decimal, InvalidOperation

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from wtforms import PasswordField, SelectField, StringField
from wtforms.validators import ValidationError

from ..domain.errors import InvalidPolicy
from ..domain.money import InvalidAmount, format_fen, parse_amount
from ..domain.policy import ALLOCATIONS, MAX_CAP_PLACES, MAX_RATE_PLACES
from ..extensions import db
from ..models import FEE_BASES, ROLES, Building, Estate, FeeItem, Unit, User
from ..services import admin as acts
from ..services.errors import NotFound, ServiceError
from ..services.ledger import local_today
from ..services.users import MIN_PASSWORD, USERNAME, create_user, name_taken
from .access import role_required
from .formats import ldate
from .refusals import refusal

bp = Blueprint("admin", __name__, url_prefix="/admin")

INVALID = 422
ALLOCATION_LABELS = {"principal_first": _l("Principal first"), "charge_by_charge": _l("Charge by charge")}
BASIS_LABELS = {"per_m2": _l("Per m² of floor area, per month"), "fixed": _l("Fixed amount per unit, per month")}
DECIMAL_TEXT = re.compile(r"^-?\d+(?:\.\d+)?$")
WHOLE_TEXT = re.compile(r"^-?\d+$")


def role_labels():
    from . import ROLE_LABELS
    return ROLE_LABELS


def decimal_places(text):
    """Decimal places that matter: ``"0.00100"`` has 3."""
    fraction = text.partition(".")[2].rstrip("0")
    return len(fraction)


def plain_decimal(value):
    """A ``Decimal`` as plain text without trailing zeros: 1.000 -> "1", 0.50 -> "0.5"."""
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


# -- forms ------------------------------------------------------------------------------

class PasswordFields:
    def validate_password(self, field):
        if len(field.data or "") < MIN_PASSWORD:
            raise ValidationError(_("The password must have at least %(count)s characters.", count=MIN_PASSWORD))

    def validate_confirm(self, field):
        if (field.data or "") != (self.password.data or ""):
            raise ValidationError(_("The two passwords do not match."))


class RoleField:
    def validate_role(self, field):
        if field.data not in ROLES:
            raise ValidationError(_("Unknown role. Choose one from the list."))


class UserForm(PasswordFields, RoleField, FlaskForm):
    username = StringField(_l("User name"))
    role = SelectField(_l("Role"), validate_choice=False)
    password = PasswordField(_l("Password"))
    confirm = PasswordField(_l("Repeat the password"))

    def validate_username(self, field):
        name = (field.data or "").strip()
        if not name:
            raise ValidationError(_("Please enter a user name."))
        if not USERNAME.match(name):
            raise ValidationError(_("A user name has 2 to 50 letters, digits or . _ @ - and no spaces."))
        if name_taken(name):
            raise ValidationError(_("A user named %(name)s already exists.", name=name))


class RoleForm(RoleField, FlaskForm):
    role = SelectField(_l("Role"), validate_choice=False)


class PasswordForm(PasswordFields, FlaskForm):
    password = PasswordField(_l("New password"))
    confirm = PasswordField(_l("Repeat the password"))


class ActionForm(FlaskForm):
    """A button: only the CSRF token."""


class EstateForm(FlaskForm):
    name = StringField(_l("Name of the estate"))

    def validate_name(self, field):
        name = (field.data or "").strip()
        if not name:
            raise ValidationError(_("Please enter the estate's name."))
        if "/" in name:
            raise ValidationError(_("The name cannot contain “/”: it separates the parts of a unit reference "
                                    "(estate/building/unit)."))
        if len(name) > acts.ESTATE_NAME_MAX:
            raise ValidationError(_("The name may have at most %(count)s characters.", count=acts.ESTATE_NAME_MAX))
        if db.session.execute(select(Estate.id).where(Estate.name == name)).first():
            raise ValidationError(_("An estate named %(name)s already exists.", name=name))


PROFILE_LABELS = {
    "office_name": _l("Office name"), "office_address": _l("Office address"), "office_phone": _l("Office phone"),
    "office_hours": _l("Opening hours"), "bank_name": _l("Bank and branch"), "bank_account_name": _l("Account name"),
    "bank_account_no": _l("Account number"), "wechat_payee": _l("WeChat Pay payee"),
    "alipay_payee": _l("Alipay payee"), "relief_contact": _l("Contact for hardship or disputes"),
}


class ProfileForm(FlaskForm):
    """The office's letterhead and ways to pay: one line each, at most the column's length."""
    office_name = StringField(PROFILE_LABELS["office_name"])
    office_address = StringField(PROFILE_LABELS["office_address"])
    office_phone = StringField(PROFILE_LABELS["office_phone"])
    office_hours = StringField(PROFILE_LABELS["office_hours"])
    bank_name = StringField(PROFILE_LABELS["bank_name"])
    bank_account_name = StringField(PROFILE_LABELS["bank_account_name"])
    bank_account_no = StringField(PROFILE_LABELS["bank_account_no"])
    wechat_payee = StringField(PROFILE_LABELS["wechat_payee"])
    alipay_payee = StringField(PROFILE_LABELS["alipay_payee"])
    relief_contact = StringField(PROFILE_LABELS["relief_contact"])

    def validate(self, extra_validators=None):
        valid = super().validate(extra_validators)
        for name, limit in acts.PROFILE_FIELDS.items():
            field = getattr(self, name)
            text = (field.data or "").strip()
            if len(text) > limit:
                field.errors = list(field.errors) + [_("At most %(count)s characters (this has %(length)s).",
                                                       count=limit, length=len(text))]
                valid = False
            elif "\n" in text or "\r" in text:
                field.errors = list(field.errors) + [_("Write it on one line.")]
                valid = False
        return valid

    def values(self):
        return {name: getattr(self, name).data or "" for name in acts.PROFILE_FIELDS}


class FeeItemForm(FlaskForm):
    name = StringField(_l("Name of the fee item"))
    basis = SelectField(_l("Charged"), validate_choice=False)
    price = StringField(_l("Price (CNY)"))
    due_day = SelectField(_l("Due on"), validate_choice=False)

    def __init__(self, estate, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.estate = estate
        self.basis.choices = [(basis, BASIS_LABELS[basis]) for basis in FEE_BASES]
        self.due_day.choices = [("", _("The last day of the month"))] + [
            (str(day), _("Day %(day)s of the month", day=day)) for day in range(1, 32)]

    def validate_name(self, field):
        name = (field.data or "").strip()
        if not name:
            raise ValidationError(_("Please enter the fee item's name."))
        if len(name) > acts.FEE_ITEM_NAME_MAX:
            raise ValidationError(_("The name may have at most %(count)s characters.", count=acts.FEE_ITEM_NAME_MAX))
        if db.session.execute(select(FeeItem.id).where(FeeItem.estate_id == self.estate.id,
                                                       FeeItem.name == name)).first():
            raise ValidationError(_("This estate already has a fee item named %(name)s.", name=name))

    def validate_basis(self, field):
        if field.data not in FEE_BASES:
            raise ValidationError(_("Choose how the fee is charged."))

    def validate_price(self, field):
        text = (field.data or "").strip()
        if not text:
            raise ValidationError(_("Please enter the price."))
        if text.startswith("-"):
            raise ValidationError(_("The price cannot be negative."))
        if re.match(r"^\d+\.\d{3,}$", text):
            raise ValidationError(_("The price may have at most two decimals, such as 2.35."))
        try:
            fen = parse_amount(text, allow_zero=True)
        except InvalidAmount:
            raise ValidationError(_("The price must be a number such as 2.35.")) from None
        if fen == 0:
            raise ValidationError(_("The price must be greater than 0.00."))
        self.price_fen = fen

    def validate_due_day(self, field):
        text = (field.data or "").strip()
        if text == "":
            self.due_day_value = None
            return
        if not text.isdigit() or not 1 <= int(text) <= 31:
            raise ValidationError(_("The due day must be a day from 1 to 31, or the last day of the month."))
        self.due_day_value = int(text)


class PolicyForm(FlaskForm):
    effective_from = StringField(_l("Takes effect on"))
    daily_rate = StringField(_l("Daily rate"))
    grace_days = StringField(_l("Grace days"))
    cap_ratio = StringField(_l("Cap (times the charge)"))
    allocation = SelectField(_l("Payments settle"), validate_choice=False)

    def __init__(self, estate, today, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.estate = estate
        self.today = today
        self.allocation.choices = [(name, ALLOCATION_LABELS[name]) for name in ALLOCATIONS]

    def validate_effective_from(self, field):
        text = (field.data or "").strip()
        if not text:
            raise ValidationError(_("Please enter the date the policy takes effect."))
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise ValidationError(_("Please enter the date as YYYY-MM-DD, such as 2026-01-01.")) from None
        if day < self.today:
            raise ValidationError(past_date_message(day, self.today))
        self.effective_day = day

    def validate_daily_rate(self, field):
        text = (field.data or "").strip()
        if not text:
            raise ValidationError(_("Please enter the daily rate."))
        if not DECIMAL_TEXT.match(text):
            raise ValidationError(_("The daily rate must be a decimal number such as 0.0005."))
        if text.startswith("-"):
            raise ValidationError(_("The daily rate cannot be negative."))
        if decimal_places(text) > MAX_RATE_PLACES:
            raise ValidationError(_("The daily rate may have at most %(count)s decimal places.",
                                    count=MAX_RATE_PLACES))
        rate = Decimal(text)
        if rate > 1:
            raise ValidationError(_("The daily rate cannot be more than 1."))
        self.rate_value = Decimal(plain_decimal(rate))

    def validate_grace_days(self, field):
        text = (field.data or "").strip()
        if not text:
            raise ValidationError(_("Please enter the grace days (0 for none)."))
        if not WHOLE_TEXT.match(text):
            raise ValidationError(_("Grace days must be a whole number of days."))
        if text.startswith("-"):
            raise ValidationError(_("Grace days cannot be negative."))
        if int(text) > 3650:
            raise ValidationError(_("Grace days cannot be more than 3650."))
        self.grace_value = int(text)

    def validate_cap_ratio(self, field):
        text = (field.data or "").strip()
        if not text:
            self.cap_value = None
            return
        if not DECIMAL_TEXT.match(text):
            raise ValidationError(_("The cap must be a decimal number such as 1.0, or empty for no cap."))
        if text.startswith("-"):
            raise ValidationError(_("The cap cannot be negative."))
        if decimal_places(text) > MAX_CAP_PLACES:
            raise ValidationError(_("The cap may have at most %(count)s decimal places.", count=MAX_CAP_PLACES))
        try:
            self.cap_value = Decimal(plain_decimal(Decimal(text)))
        except InvalidOperation:
            raise ValidationError(_("The cap must be a decimal number such as 1.0, or empty for no cap.")) from None

    def validate_allocation(self, field):
        if field.data not in ALLOCATIONS:
            raise ValidationError(_("Choose how payments are settled."))


def past_date_message(day, today):
    return _("%(day)s is in the past. A new policy takes effect today (%(today)s) or later, so that days "
             "already charged keep their late fee.", day=ldate(day), today=ldate(today))


def with_role_choices(form):
    form.role.choices = [(role, role_labels()[role]) for role in ROLES]
    return form


def refuse(form_field, message):
    """Put a message next to a field after the form validated (a rule only the service sees)."""
    form_field.errors = list(form_field.errors or []) + [message]


# -- lookups -----------------------------------------------------------------------------

def user_or_404(user_id):
    try:
        return acts.get_user(user_id)
    except NotFound:
        abort(404)


def estate_or_404(estate_id):
    try:
        return acts.get_estate(estate_id)
    except NotFound:
        abort(404)


def fee_item_or_404(estate, item_id):
    try:
        return acts.get_fee_item(estate.id, item_id)
    except NotFound:
        abort(404)


def actor():
    return current_user.username


# -- home and estates --------------------------------------------------------------------

def render_index(estate_form, status=200):
    today = local_today()
    estates = db.session.execute(select(Estate).order_by(Estate.name)).scalars().all()
    units = dict(db.session.execute(select(Building.estate_id, func.count(Unit.id)).join(Unit)
                                    .group_by(Building.estate_id)).all())
    active_items = dict(db.session.execute(select(FeeItem.estate_id, func.count(FeeItem.id))
                                           .where(FeeItem.active.is_(True)).group_by(FeeItem.estate_id)).all())
    rows = []
    for estate in estates:
        versions = acts.policy_versions(estate.id)
        current = acts.version_in_force(versions, today)
        upcoming = [v for v in versions if v.effective_from > today]
        rows.append({"estate": estate, "units": units.get(estate.id, 0), "active_items": active_items.get(estate.id, 0),
                     "current": current, "next": upcoming[0] if upcoming else None})
    users = db.session.execute(select(User.role, User.active, func.count(User.id))
                               .group_by(User.role, User.active)).all()
    active_by_role = {role: 0 for role in ROLES}
    inactive = 0
    for role, active, count in users:
        if active:
            active_by_role[role] = active_by_role.get(role, 0) + count
        else:
            inactive += count
    return render_template("admin/index.html", rows=rows, today=today, estate_form=estate_form,
                           active_by_role=active_by_role, inactive=inactive, role_labels=role_labels(),
                           per_mille=per_mille), status


@bp.get("/")
@role_required("admin")
def index():
    """The administration home: users at a glance, the estates and their policy in force."""
    return render_index(EstateForm())


@bp.post("/estates")
@role_required("admin")
def create_estate():
    """Create an estate (with the default late-fee policy)."""
    form = EstateForm()
    if not form.validate_on_submit():
        return render_index(form, INVALID)
    try:
        estate = acts.create_estate(form.name.data, actor())
    except acts.DuplicateEstate:
        refuse(form.name, _("An estate named %(name)s already exists.", name=form.name.data.strip()))
        return render_index(form, INVALID)
    flash(_("Estate %(name)s created with the default late-fee policy.", name=estate.name), "success")
    return redirect(url_for("admin.estate", estate_id=estate.id))


def per_mille(rate_text):
    return plain_decimal(Decimal(rate_text) * 1000)


def per_year(rate_text):
    return plain_decimal(Decimal(rate_text) * 36500)


def cap_percent(cap_text):
    return None if cap_text is None else plain_decimal(Decimal(cap_text) * 100)


def estate_today(estate):
    """Today in the estate's time zone: the first day a new policy version may take effect."""
    return local_today(estate.timezone)


def render_estate(estate, fee_form=None, policy_form=None, status=200, action_error=None, profile_form=None):
    today = estate_today(estate)
    profile_form = profile_form or ProfileForm(formdata=None, data={
        name: getattr(estate, name) or "" for name in acts.PROFILE_FIELDS})
    versions = acts.policy_versions(estate.id)
    current = acts.version_in_force(versions, today)
    if policy_form is None:
        policy_form = PolicyForm(estate, today, formdata=None, data={
            "effective_from": today.isoformat(), "daily_rate": current.daily_rate if current else "0.001",
            "grace_days": str(current.grace_days) if current else "0",
            "cap_ratio": (current.cap_ratio or "") if current else "1.0",
            "allocation": current.allocation if current else "principal_first"})
    fee_form = fee_form or FeeItemForm(estate, formdata=None, data={"basis": "per_m2", "due_day": ""})
    items = db.session.execute(select(FeeItem).where(FeeItem.estate_id == estate.id)
                               .order_by(FeeItem.active.desc(), FeeItem.name)).scalars().all()
    unit_count = db.session.execute(select(func.count(Unit.id)).join(Building)
                                    .where(Building.estate_id == estate.id)).scalar_one()
    return render_template("admin/estate.html", estate=estate, items=items, versions=versions, current=current,
                           today=today, fee_form=fee_form, policy_form=policy_form, action_form=ActionForm(),
                           unit_count=unit_count, building_count=len(estate.buildings), fen=format_fen,
                           per_mille=per_mille, per_year=per_year, cap_percent=cap_percent,
                           allocation_labels=ALLOCATION_LABELS, basis_labels=BASIS_LABELS,
                           action_error=action_error, profile_form=profile_form), status


@bp.get("/estates/<int:estate_id>")
@role_required("admin")
def estate(estate_id):
    """An estate: its fee items and its late-fee policy versions."""
    return render_estate(estate_or_404(estate_id))


@bp.post("/estates/<int:estate_id>/profile")
@role_required("admin")
def update_profile(estate_id):
    """Save the office's letterhead and ways to pay (printed on notices and receipts)."""
    estate = estate_or_404(estate_id)
    form = ProfileForm()
    if not form.validate_on_submit():
        return render_estate(estate, profile_form=form, status=INVALID)
    try:
        changed = acts.update_estate_profile(estate.id, form.values(), actor())
    except acts.InvalidProfile as refused:
        refuse(getattr(form, refused.field, form.office_name),
               _("At most %(count)s characters, on one line.", count=refused.limit))
        return render_estate(estate, profile_form=form, status=INVALID)
    if changed:
        flash(_("Office and ways to pay saved; changed: %(fields)s.",
                fields=_(", ").join(str(PROFILE_LABELS[name]) for name in changed)), "success")
    else:
        flash(_("Nothing was changed."), "info")
    return redirect(url_for("admin.estate", estate_id=estate.id) + "#office")


@bp.post("/estates/<int:estate_id>/fee-items")
@role_required("admin")
def add_fee_item(estate_id):
    """Add an active fee item to the estate."""
    estate = estate_or_404(estate_id)
    form = FeeItemForm(estate)
    if not form.validate_on_submit():
        return render_estate(estate, fee_form=form, status=INVALID)
    try:
        item = acts.add_fee_item(estate.id, form.name.data, form.basis.data, form.price_fen, form.due_day_value,
                                 actor())
    except acts.DuplicateFeeItem:
        refuse(form.name, _("This estate already has a fee item named %(name)s.", name=form.name.data.strip()))
        return render_estate(estate, fee_form=form, status=INVALID)
    flash(_("Fee item %(name)s added; billing runs charge it from now on.", name=item.name), "success")
    return redirect(url_for("admin.estate", estate_id=estate.id))


@bp.post("/estates/<int:estate_id>/fee-items/<int:item_id>/activate")
@role_required("admin")
def activate_fee_item(estate_id, item_id):
    """Let billing runs charge this fee item."""
    return set_fee_item(estate_id, item_id, True)


@bp.post("/estates/<int:estate_id>/fee-items/<int:item_id>/deactivate")
@role_required("admin")
def deactivate_fee_item(estate_id, item_id):
    """Make billing runs skip this fee item (what was billed stays)."""
    return set_fee_item(estate_id, item_id, False)


def set_fee_item(estate_id, item_id, active):
    estate = estate_or_404(estate_id)
    item = fee_item_or_404(estate, item_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    acts.set_fee_item_active(estate.id, item.id, active, actor())
    if active:
        flash(_("Fee item %(name)s is active: billing runs charge it.", name=item.name), "success")
    else:
        flash(_("Fee item %(name)s is inactive: billing runs skip it. Charges already billed stay.",
                name=item.name), "success")
    return redirect(url_for("admin.estate", estate_id=estate.id))


@bp.post("/estates/<int:estate_id>/policies")
@role_required("admin")
def add_policy(estate_id):
    """Add a late-fee policy version from today or a later date."""
    estate = estate_or_404(estate_id)
    today = estate_today(estate)
    form = PolicyForm(estate, today)
    if not form.validate_on_submit():
        return render_estate(estate, policy_form=form, status=INVALID)
    try:
        acts.add_late_fee_policy(estate.id, form.effective_day, form.rate_value, form.grace_value, form.cap_value,
                                 form.allocation.data, actor(), today)
    except acts.PolicyDateTaken as refused:
        refuse(form.effective_from, _("A policy version already takes effect on %(day)s. Choose another date.",
                                      day=ldate(refused.effective_from)))
        return render_estate(estate, policy_form=form, status=INVALID)
    except acts.PolicyInPast as refused:
        refuse(form.effective_from, past_date_message(refused.effective_from, refused.today))
        return render_estate(estate, policy_form=form, status=INVALID)
    except InvalidPolicy:
        refuse(form.daily_rate, _("These settings are not a valid late-fee policy."))
        return render_estate(estate, policy_form=form, status=INVALID)
    flash(_("Late-fee policy from %(day)s recorded; the estate's balances were recomputed.",
            day=ldate(form.effective_day)), "success")
    return redirect(url_for("admin.estate", estate_id=estate.id))


# -- users -------------------------------------------------------------------------------

def render_users(form, status=200):
    users = db.session.execute(select(User).order_by(User.active.desc(), User.username)).scalars().all()
    return render_template("admin/users.html", users=users, form=form, role_labels=role_labels()), status


@bp.route("/users", methods=["GET", "POST"])
@role_required("admin")
def users():
    """The users, and a form to make one."""
    form = with_role_choices(UserForm())
    if not form.is_submitted():
        form.role.data = "clerk"
        return render_users(form)
    if not form.validate():
        return render_users(form, INVALID)
    name = form.username.data.strip()
    try:
        create_user(name, form.role.data, form.password.data, actor=actor())
    except (ServiceError, IntegrityError) as refused:
        # Someone made the same name between the check and the insert (a double submit).
        taken = name_taken(name)
        refuse(form.username, _("A user named %(name)s already exists.", name=name) if taken else refusal(refused))
        return render_users(form, INVALID)
    flash(_("User %(name)s created.", name=name), "success")
    return redirect(url_for("admin.users"))


def render_user(user, role_form=None, password_form=None, action_error=None, status=200):
    role_form = role_form or with_role_choices(RoleForm(formdata=None, data={"role": user.role}))
    return render_template("admin/user.html", user=user, role_form=role_form,
                           password_form=password_form or PasswordForm(formdata=None), action_form=ActionForm(),
                           action_error=action_error, role_labels=role_labels(),
                           is_self=user.id == current_user.id), status


def last_admin_message(user):
    return _("%(name)s is the last active administrator. Make another user an administrator first.",
             name=user.username)


@bp.get("/users/<int:user_id>")
@role_required("admin")
def user(user_id):
    """One user: role, password, active or not."""
    return render_user(user_or_404(user_id))


@bp.post("/users/<int:user_id>/role")
@role_required("admin")
def change_role(user_id):
    """Give the user another role."""
    user = user_or_404(user_id)
    form = with_role_choices(RoleForm())
    if not form.validate_on_submit():
        return render_user(user, role_form=form, status=INVALID)
    try:
        acts.change_role(user.id, form.role.data, actor())
    except acts.LastActiveAdmin:
        refuse(form.role, last_admin_message(user))
        return render_user(user, role_form=form, status=INVALID)
    flash(_("%(name)s is now: %(role)s.", name=user.username, role=role_labels()[form.role.data]), "success")
    if user.id == current_user.id and form.role.data != "admin":
        return redirect(url_for("dashboard.index"))  # no longer allowed here
    return redirect(url_for("admin.user", user_id=user.id))


@bp.post("/users/<int:user_id>/password")
@role_required("admin")
def reset_password(user_id):
    """Set a new password for the user (their other sessions end)."""
    user = user_or_404(user_id)
    form = PasswordForm()
    if not form.validate_on_submit():
        return render_user(user, password_form=form, status=INVALID)
    acts.reset_password(user.id, form.password.data, actor())
    flash(_("The password of %(name)s has been reset.", name=user.username), "success")
    return redirect(url_for("admin.user", user_id=user.id))


@bp.post("/users/<int:user_id>/deactivate")
@role_required("admin")
def deactivate_user(user_id):
    """Stop the user from logging in and end their sessions."""
    user = user_or_404(user_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        acts.deactivate_user(user.id, actor())
    except acts.SelfDeactivation:
        return render_user(user, action_error=_("You cannot deactivate yourself. Ask another administrator."),
                           status=INVALID)
    except acts.LastActiveAdmin:
        return render_user(user, action_error=last_admin_message(user), status=INVALID)
    flash(_("User %(name)s is deactivated and logged out everywhere.", name=user.username), "success")
    return redirect(url_for("admin.user", user_id=user.id))


@bp.post("/users/<int:user_id>/reactivate")
@role_required("admin")
def reactivate_user(user_id):
    """Let the user log in again."""
    user = user_or_404(user_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    acts.reactivate_user(user.id, actor())
    flash(_("User %(name)s can log in again.", name=user.username), "success")
    return redirect(url_for("admin.user", user_id=user.id))


# The commission scheme screens (提成方案) live in their own module, on this blueprint.
from . import admin_commission  # noqa: E402,F401
