"""Call guides (话术): reading them, the admin's versions, the guide shown when logging a contact.

Clerks, managers and admins read every guide; only admins edit (a new version each time,
``services.guides.edit_guide``); lawyers get 403. An unknown stage, reason, language or
version is a 404. A refused edit returns the form with the message next to the section.
"""
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import HiddenField, TextAreaField

from ..models import GUIDE_REASONS, GUIDE_STAGES
from ..services import guides as service
from . import select_language
from .access import role_required
from .households import STAGE_BADGES, STAGE_LABELS
from .refusals import refusal

bp = Blueprint("guides", __name__, url_prefix="/guides")

READERS = ("clerk", "manager")  # an admin passes a manager's check
INVALID = 422
REASON_LABELS = {"opening": _l("First call (no reason given yet)"), "hardship": _l("Financial hardship"),
                 "service_dispute": _l("Unhappy with the service"), "away": _l("Away from home"),
                 "refuses": _l("Refuses to pay"), "unreachable": _l("Unreachable"),
                 "deceased_or_estate": _l("Owner deceased / estate"), "other": _l("Other reason")}
LANGUAGE_LABELS = {"zh_CN": _l("Chinese"), "en": _l("English")}
SECTION_LABELS = {"opening": _l("How to open"), "replies": _l("What to say to the usual replies"),
                  "offer": _l("What to offer"), "never_say": _l("Never say")}
# The same section of a reason's guide, as shown beside the contact form.
FOLLOW_UP_LABEL = _l("Opening a follow-up call")
PLACEHOLDER_LABELS = {
    "office": _l("the office's name"), "owner": _l("the owner's name"), "unit": _l("the unit"),
    "amount": _l("the total owed (principal and late fee)"), "principal": _l("the principal owed"),
    "late_fee": _l("the late fee owed"), "periods": _l("the periods owed"),
    "days_overdue": _l("days overdue of the oldest unpaid charge"), "office_phone": _l("the office's phone"),
    "office_address": _l("the office's address"), "office_hours": _l("the office's opening hours"),
    "ways_to_pay": _l("the ways to pay of the office profile"),
    "relief_contact": _l("whom to call about hardship or a dispute"),
    "quiet_from": _l("start of the quiet hours"), "quiet_until": _l("end of the quiet hours"),
    "max_attempts": _l("most contacts in 7 days")}
ERROR_MESSAGES = {
    "empty_section": _l("This section is empty: every section needs text."),
    "too_long": _l("At most %(detail)s characters."),
    "forbidden_utility_cut": _l("“%(detail)s” may never be said: it threatens to cut water, electricity, heating "
                                "or gas (Civil Code art. 944). Rephrase this section."),
    "forbidden_impersonation": _l("“%(detail)s” may never be said: it claims to be a court, the police, a bank or a "
                                  "law firm. Rephrase this section."),
    "unknown_placeholder": _l("%(detail)s is not a placeholder; see the list below the form."),
    "unchanged": _l("Nothing changed: the texts are those of version %(detail)s."),
    "stale": _l("Another version was saved since you opened this form. Reload the guide and make your change "
                "again."),
}


class GuideForm(FlaskForm):
    opening = TextAreaField(_l("How to open"))
    replies = TextAreaField(_l("What to say to the usual replies"))
    offer = TextAreaField(_l("What to offer"))
    never_say = TextAreaField(_l("Never say"))
    based_on = HiddenField()


def _key_or_404(stage, reason, language):
    try:
        service.check_key(stage, reason, language)
    except service.InvalidGuide:
        abort(404)


def _language():
    chosen = request.args.get("language")
    if chosen is not None:
        if chosen not in service.GUIDE_LANGUAGES:
            abort(404)
        return chosen
    language = select_language()
    return language if language in service.GUIDE_LANGUAGES else "zh_CN"


def _labels():
    return {"stage_labels": STAGE_LABELS, "stage_badges": STAGE_BADGES, "reason_labels": REASON_LABELS,
            "language_labels": LANGUAGE_LABELS, "section_labels": SECTION_LABELS,
            "placeholder_labels": PLACEHOLDER_LABELS, "stages": GUIDE_STAGES, "reasons": GUIDE_REASONS,
            "languages": service.GUIDE_LANGUAGES, "sections": service.SECTIONS}


@bp.get("/")
@role_required(*READERS)
def index():
    """Every guide in force (stage × reason) in the current language (or ``?language=``)."""
    language = _language()
    return render_template("guides/index.html", language=language, in_force=service.guides_in_force(language),
                           **_labels())


@bp.get("/<stage>/<reason>/<language>")
@role_required(*READERS)
def show(stage, reason, language):
    """The guide in force for the key, with its version history."""
    _key_or_404(stage, reason, language)
    history = service.guide_history(stage, reason, language)
    return render_template("guides/show.html", guide=history[0], history=history, in_force=history[0], **_labels())


@bp.get("/<stage>/<reason>/<language>/v<int:version>")
@role_required(*READERS)
def version(stage, reason, language, version):
    """One version of a guide (what a contact logged under it was shown), with the history."""
    _key_or_404(stage, reason, language)
    guide = service.guide_version(stage, reason, language, version)
    if guide is None:
        abort(404)
    history = service.guide_history(stage, reason, language)
    return render_template("guides/show.html", guide=guide, history=history, in_force=history[0], **_labels())


def render_edit(stage, reason, language, form, status=200):
    current = service.guide_in_force(stage, reason, language)
    return render_template("guides/edit.html", form=form, current=current, stage=stage, reason=reason,
                           language=language, **_labels()), status


@bp.get("/<stage>/<reason>/<language>/edit")
@role_required("admin")
def edit(stage, reason, language):
    """The admin's form: the texts in force, to save as the next version."""
    _key_or_404(stage, reason, language)
    current = service.guide_in_force(stage, reason, language)
    form = GuideForm(formdata=None, data={**service.guide_texts(current), "based_on": str(current.version)})
    return render_edit(stage, reason, language, form)


@bp.post("/<stage>/<reason>/<language>/edit")
@role_required("admin")
def save(stage, reason, language):
    """Save the admin's texts as the next version (refused with the section and phrase named)."""
    _key_or_404(stage, reason, language)
    form = GuideForm()
    if not form.validate_on_submit():
        return render_edit(stage, reason, language, form, status=INVALID)
    based_on = int(form.based_on.data) if (form.based_on.data or "").isdigit() else None
    texts = {section: getattr(form, section).data for section in service.SECTIONS}
    try:
        guide = service.edit_guide(stage, reason, language, texts, current_user.username, based_on=based_on)
    except service.InvalidGuide as refused:
        code = f"forbidden_{refused.kind}" if refused.code == "forbidden_phrase" else refused.code
        message = ERROR_MESSAGES.get(code)
        message = str(message) % {"detail": refused.detail} if message is not None else refusal(refused)
        target = getattr(form, refused.section or "", None)
        if target is not None:
            target.errors = list(target.errors) + [message]
        else:
            form.form_errors.append(message)
        return render_edit(stage, reason, language, form, status=INVALID)
    flash(_("Version %(version)s of the guide saved; contacts logged from now on link it.", version=guide.version),
          "success")
    return redirect(url_for("guides.show", stage=stage, reason=reason, language=language))


# -- beside the contact form ------------------------------------------------------------------

def contact_guide_context(summary):
    """What ``guides/_contact_guide.html`` needs for the household page: the guides for the
    household's stage in the user's language, filled in (None for users who log no
    contacts, and for a household with no collection stage — the partial says so)."""
    if not current_user.has_role("clerk", "manager"):
        return None
    language = select_language()
    guides = service.contact_guides(summary.unit, summary.stage, language, statement=summary.statement,
                                    today=summary.today)
    return {"stage": summary.stage, "guides": guides, "language": language if language in
            service.GUIDE_LANGUAGES else "zh_CN", "reasons": GUIDE_REASONS, "reason_labels": REASON_LABELS,
            "section_labels": SECTION_LABELS, "follow_up_label": FOLLOW_UP_LABEL}
