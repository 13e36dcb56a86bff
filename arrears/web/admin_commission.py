"""Administration of the commission schemes (提成方案), on the admin blueprint: the versions,
a form to add one, and a calculator that shows the working for an amount.

The form takes rates as percentages (4 or 4.5) and turns them into the definition the
domain reads; every rule of a definition is checked once, in ``domain/commission.py``,
and its refusal (a code and a place) becomes a translated message next to the field at
fault. Bad input answers 422 with the form again and stores nothing.
"""
import re
from datetime import date
from decimal import Decimal

from babel.dates import format_date
from flask import flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import ValidationError

from ..domain.commission import KINDS, MAX_RATE_PLACES, SchemeError, commission, parse_scheme
from ..domain.money import InvalidAmount, format_fen, parse_amount
from ..services import commission as schemes
from ..services.errors import NotFound
from ..services.ledger import local_today
from .access import role_required
from .admin import INVALID, actor, bp, refuse
from .formats import money

TIER_ROWS = 5
KIND_LABELS = {"fixed": _l("Fixed rate"),
               "tiered_marginal": _l("Tiered, each part at its tier's rate (超额累进)"),
               "tiered_whole": _l("Tiered, the whole amount at its tier's rate (全额累进)")}
KIND_HELP = {"fixed": _l("The whole amount recovered at one rate."),
             "tiered_marginal": _l("Each tier's rate applies to the part of the amount inside that tier."),
             "tiered_whole": _l("The whole amount at the rate of the tier it falls in.")}
MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")
PERCENT = re.compile(r"^-?\d+(?:\.\d+)?$")
MONTH_PATTERNS = {"zh": "y年M月", "en": "MMMM y"}


def lmonth(day):
    """The month of ``day`` in the user's language: 2026年6月, June 2026."""
    locale = get_locale() or "zh_Hans_CN"
    language = getattr(locale, "language", str(locale)[:2])
    return format_date(day, MONTH_PATTERNS.get(language, MONTH_PATTERNS["en"]), locale=locale)


def percent(rate):
    """A ``Decimal`` rate as a percentage without trailing zeros: 0.045 -> "4.5"."""
    value = (rate * 100).normalize() if rate else Decimal(0)
    return format(value, "f")


def yuan_text(text):
    """What the admin typed as an amount, without thousands separators or spaces."""
    return re.sub(r"[,，\s]", "", text or "")


# -- the form ---------------------------------------------------------------------------

class SchemeForm(FlaskForm):
    kind = SelectField(_l("Kind of scheme"), validate_choice=False)
    rate = StringField(_l("Rate (%)"))
    bonus_every = StringField(_l("Bonus for every (CNY)"))
    bonus_amount = StringField(_l("Bonus amount (CNY)"))
    effective_month = StringField(_l("In force from (month)"))
    note = TextAreaField(_l("Note"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind.choices = [(kind, KIND_LABELS[kind]) for kind in KINDS]
        self.tier_errors = []

    def tier_rows(self):
        return [(number, getattr(self, f"up_to_{number}"), getattr(self, f"tier_rate_{number}"))
                for number in range(1, TIER_ROWS + 1)]

    def validate_kind(self, field):
        if field.data not in KINDS:
            raise ValidationError(_("Choose the kind of scheme."))

    def validate_effective_month(self, field):
        text = (field.data or "").strip()
        if not text:
            raise ValidationError(_("Please enter the month the scheme takes effect, such as 2026-06."))
        match = MONTH.match(text)
        if not match or not 1 <= int(match.group(2)) <= 12 or not 2000 <= int(match.group(1)) <= 2999:
            raise ValidationError(_("Please enter a month as YYYY-MM, such as 2026-06: a scheme takes effect on the "
                           "first day of a month."))
        self.effective_day = date(int(match.group(1)), int(match.group(2)), 1)

    def validate_note(self, field):
        if len((field.data or "").strip()) > schemes.NOTE_MAX:
            raise ValidationError(_("At most %(count)s characters.", count=schemes.NOTE_MAX))

    def validate(self, extra_validators=None):
        valid = super().validate(extra_validators)
        self.definition = None
        definition = {}
        if (self.rate.data or "").strip():
            rate = self.percent_value(self.rate)
            valid = valid and rate is not None
            definition["rate"] = rate
        rows = []
        for number, up_to, rate_field in self.tier_rows():
            up_to_text, rate_text = yuan_text(up_to.data), (rate_field.data or "").strip()
            if not up_to_text and not rate_text:
                continue
            if not rate_text:
                refuse(rate_field, _("Please enter the rate of this tier."))
                valid = False
                continue
            rate = self.percent_value(rate_field)
            valid = valid and rate is not None
            rows.append((number, {"up_to": up_to_text or None, "rate": rate}))
        if rows:
            definition["tiers"] = [tier for _number, tier in rows]
        self.row_numbers = [number for number, _tier in rows]
        every, amount = yuan_text(self.bonus_every.data), yuan_text(self.bonus_amount.data)
        if every or amount:
            if not every:
                refuse(self.bonus_every, _("Enter both the step and the bonus for it, or neither."))
                valid = False
            if not amount:
                refuse(self.bonus_amount, _("Enter both the step and the bonus for it, or neither."))
                valid = False
            definition["bonus"] = {"every": every, "amount": amount}
        if self.kind.data in KINDS and self.kind.data != "fixed" and "tiers" not in definition:
            self.tier_errors.append(_("Enter at least one tier; the last with an empty “up to” (no limit)."))
            valid = False
        if self.kind.data == "fixed" and "rate" not in definition and not self.rate.errors:
            refuse(self.rate, _("Please enter the rate as a percentage, such as 4."))
            valid = False
        self.definition = definition
        return valid

    @staticmethod
    def percent_value(field):
        """The rate (a fraction, as text) for a percentage typed in ``field``; None (and a
        message next to the field) when it is not a number."""
        text = (field.data or "").strip().rstrip("%％").strip()
        if not PERCENT.match(text):
            refuse(field, _("The rate must be a percentage such as 4 or 4.5."))
            return None
        return format(Decimal(text) / 100, "f")


for _number in range(1, TIER_ROWS + 1):
    setattr(SchemeForm, f"up_to_{_number}", StringField(_l("Up to (CNY)")))
    setattr(SchemeForm, f"tier_rate_{_number}", StringField(_l("Rate (%)")))
del _number


class CalculatorForm(FlaskForm):
    """Read-only (GET), so no CSRF token."""

    class Meta:
        csrf = False

    amount = StringField(_l("Amount recovered (CNY)"))
    version = SelectField(_l("Scheme"), validate_choice=False)


def scheme_message(error):
    """A ``SchemeError`` in the user's language."""
    code, params = error.code, error.params
    if code == "rate_not_number":
        return _("The rate must be a percentage such as 4 or 4.5.")
    if code == "rate_out_of_range":
        return _("The rate must be between 0 and 100 (per cent).")
    if code == "rate_too_precise":
        return _("The rate may have at most %(count)s decimal places.", count=MAX_RATE_PLACES - 2)
    if code == "amount_not_number":
        return _("Enter an amount such as 100000.00.")
    if code == "amount_too_precise":
        return _("An amount may have at most two decimals.")
    if code == "amount_negative":
        return _("An amount cannot be negative.")
    if code == "tier_not_positive":
        return _("The first tier's limit must be above 0.00.")
    if code == "tier_not_increasing":
        return _("Tier %(tier)s: up to %(up_to)s must be above tier %(previous_tier)s's %(previous)s.",
                 tier=params["tier"], up_to=params["up_to"], previous_tier=params["previous_tier"],
                 previous=params["previous"])
    if code == "open_tier_not_last":
        return _("Only the last tier may have an empty “up to” (no limit).")
    if code == "last_tier_not_open":
        return _("The last tier must have an empty “up to” (no limit), so that every amount falls in a tier.")
    if code == "bonus_step_not_positive":
        return _("The step must be above 0.00.")
    if code == "fixed_with_tiers":
        return _("A fixed rate has no tiers: clear the tier rows, or choose a tiered kind.")
    if code == "tiered_with_rate":
        return _("A tiered scheme has no single rate: clear the rate, or choose the fixed rate.")
    if code == "tiers_not_list":
        return _("Enter at least one tier; the last with an empty “up to” (no limit).")
    return _("This is not a valid commission scheme: %(reason)s", reason=str(error))


def show_scheme_error(form, error):
    """Put the domain's refusal next to the field it concerns."""
    message, where = scheme_message(error), error.where
    if isinstance(where, tuple) and where[0] == "tier":
        number = form.row_numbers[where[1] - 1] if where[1] - 1 < len(form.row_numbers) else 1
        field = getattr(form, f"tier_rate_{number}" if where[2] == "rate" else f"up_to_{number}")
        refuse(field, message)
    elif isinstance(where, tuple) and where[0] == "bonus":
        refuse(form.bonus_amount if where[1] == "amount" else form.bonus_every, message)
    elif where == "rate":
        refuse(form.rate, message)
    elif where == "kind":
        refuse(form.kind, message)
    else:
        form.tier_errors.append(message)


# -- presenting ---------------------------------------------------------------------------

def band_label(lower_fen, upper_fen):
    if upper_fen is None:
        return _("above %(amount)s", amount=money(lower_fen)) if lower_fen else _("any amount")
    return f"{money(lower_fen)} – {money(upper_fen)}"


def scheme_rows(scheme):
    """``[(band, "4%")]``: the scheme's rates, readably."""
    if scheme.kind == "fixed":
        return [(_("the whole amount"), percent(scheme.rate) + "%")]
    lower, rows = 0, []
    for tier in scheme.tiers:
        rows.append((band_label(lower, tier.up_to_fen), percent(tier.rate) + "%"))
        lower = tier.up_to_fen
    return rows


def bonus_text(bonus):
    return _("%(amount)s for each full %(every)s recovered", amount=money(bonus.amount_fen),
             every=money(bonus.every_fen))


def working_rows(working, scheme):
    """``[{"band", "base_fen", "rate", "amount_fen"}]`` for the working table."""
    rows = []
    for line in working.lines:
        if line.kind == "bonus":
            rows.append({"band": _("Bonus: %(text)s", text=bonus_text(scheme.bonus)), "base_fen": line.base_fen,
                         "rate": _("%(count)s × %(amount)s", count=line.count,
                                   amount=money(scheme.bonus.amount_fen)),
                         "amount_fen": line.amount_fen})
        else:
            rows.append({"band": band_label(line.lower_fen, line.upper_fen) if line.kind == "tier"
                         else _("the whole amount"), "base_fen": line.base_fen,
                         "rate": percent(line.rate) + "%", "amount_fen": line.amount_fen})
    return rows


def history_rows(today):
    """The versions, newest first, each with its scheme and whether it is in force."""
    in_force = schemes.scheme_in_force(today)
    current_id = in_force[0].id if in_force else None
    rows = []
    for row in schemes.scheme_history():
        try:
            scheme = parse_scheme(row.kind, row.definition)
        except SchemeError:  # altered behind the application's back: show it, do not compute with it
            rows.append({"row": row, "scheme": None, "rates": [], "status": "unreadable", "bonus": None})
            continue
        if row.id == current_id:
            status = "in_force"
        elif row.effective_from > today:
            status = "scheduled"
        else:
            status = "superseded"
        rows.append({"row": row, "scheme": scheme, "rates": scheme_rows(scheme), "status": status,
                     "bonus": bonus_text(scheme.bonus) if scheme.bonus else None})
    return rows, in_force


def form_data_for(scheme, today):
    """The add form pre-filled from ``scheme`` (the one in force), effective next month."""
    next_month = date(today.year + today.month // 12, today.month % 12 + 1, 1)
    data = {"kind": "tiered_marginal", "effective_month": f"{next_month:%Y-%m}"}
    if scheme is not None:
        data["kind"] = scheme.kind
        if scheme.rate is not None:
            data["rate"] = percent(scheme.rate)
        # A scheme stored with more tiers than the form has rows (through the service) is not
        # copied in part: the rows stay empty rather than show a different scheme.
        for number, tier in enumerate(scheme.tiers if len(scheme.tiers) <= TIER_ROWS else (), start=1):
            data[f"up_to_{number}"] = "" if tier.up_to_fen is None else format_fen(tier.up_to_fen)
            data[f"tier_rate_{number}"] = percent(tier.rate)
        if scheme.bonus is not None:
            data["bonus_every"] = format_fen(scheme.bonus.every_fen)
            data["bonus_amount"] = format_fen(scheme.bonus.amount_fen)
    return data


def calculate(calculator, today, history):
    """``(working rows, total, the version used, its scheme)`` for the calculator, or
    ``None`` with messages on its fields."""
    text = yuan_text(calculator.amount.data)
    if not text:
        return None
    try:
        recovered_fen = parse_amount(text, allow_zero=True)
    except InvalidAmount:
        refuse(calculator.amount, _("Enter an amount such as 123456.78 (at most two decimals, not negative)."))
        return None
    choice = (calculator.version.data or "").strip()
    if choice:
        try:
            row, scheme = schemes.get_scheme(int(choice)) if choice.isdigit() else (None, None)
        except NotFound:
            row = None
        if row is None:
            refuse(calculator.version, _("There is no such version. Choose one from the list."))
            return None
    else:
        if history is None:
            refuse(calculator.version, _("No scheme is in force this month: add a version first."))
            return None
        row, scheme = history
    working = commission(scheme, recovered_fen)
    return {"rows": working_rows(working, scheme), "working": working, "row": row, "scheme": scheme}


def render_commission(form=None, status=200):
    today = local_today()
    rows, in_force = history_rows(today)
    if form is None:
        form = SchemeForm(formdata=None, data=form_data_for(in_force[1] if in_force else None, today))
    calculator = CalculatorForm(formdata=request.args if request.method == "GET" else None)
    calculator.version.choices = [("", _("The scheme in force in %(month)s", month=lmonth(today)))] + [
        (str(item["row"].id), _("#%(id)s, from %(month)s: %(kind)s", id=item["row"].id,
                                month=lmonth(item["row"].effective_from), kind=KIND_LABELS[item["row"].kind]))
        for item in rows]
    result = calculate(calculator, today, in_force) if request.method == "GET" else None
    if calculator.errors or any(field.errors for field in calculator):
        status = INVALID
    return render_template("admin/commission.html", form=form, rows=rows, in_force=in_force, today=today,
                           calculator=calculator, result=result, kind_labels=KIND_LABELS, kind_help=KIND_HELP,
                           lmonth=lmonth, percent=percent, bonus_text=bonus_text), status


# -- views --------------------------------------------------------------------------------

@bp.get("/commission")
@role_required("admin")
def commission_schemes():
    """The commission scheme versions, the form to add one, and the calculator."""
    return render_commission()


@bp.post("/commission/schemes")
@role_required("admin")
def add_commission_scheme():
    """Add a commission scheme version, in force from the first day of the month given."""
    form = SchemeForm()
    if not form.validate_on_submit():
        return render_commission(form, INVALID)
    try:
        row = schemes.add_scheme(form.kind.data, form.definition, form.effective_day, actor(), form.note.data)
    except schemes.InvalidScheme as refused:
        show_scheme_error(form, refused.scheme_error)
        return render_commission(form, INVALID)
    except schemes.PastMonth:
        refuse(form.effective_month, _("That month is already over: a scheme can take effect this month or later, "
                                       "so that no month already paid is computed again under other rules."))
        return render_commission(form, INVALID)
    except schemes.NotFirstOfMonth:
        refuse(form.effective_month, _("Please enter a month as YYYY-MM, such as 2026-06: a scheme takes effect "
                                       "on the first day of a month."))
        return render_commission(form, INVALID)
    flash(_("Commission scheme #%(id)s recorded, in force from %(month)s.", id=row.id,
            month=lmonth(row.effective_from)), "success")
    return redirect(url_for("admin.commission_schemes"))
