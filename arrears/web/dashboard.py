"""The front page: the day's overview of what is owed and what to do next.

Staff (clerk, manager, admin) see the totals, the aging chart, the collection rate,
households by stage and class, the limitation watchlist and today's work queue. A
lawyer sees only the totals of the households escalated to ``legal`` and assigned to
them — no household is named on their dashboard (SPEC §9: lawyers see only their
cases). Every figure comes from ``services.dashboard``, i.e. from the same engine
figures as ``statement --json``.
"""
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Blueprint, current_app, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from ..extensions import db
from ..services.collection import contact_policy
from ..models import Estate
from ..services.dashboard import LATE_FEE_ONLY, NOT_YET_DUE, build_dashboard, households, legal_totals, work_queue
from ..services.evidence import chain_head
from ..services.households import escalation_states
from ..services.reports import day_figures
from .access import role_required
from .charts import bar_chart, column_chart
from .formats import money

bp = Blueprint("dashboard", __name__)

STAGE_LABELS = {"reminder": _l("Reminder"), "demand": _l("Demand"), "final": _l("Final notice"),
                "legal": _l("Legal"), "closed": _l("Closed"), None: _l("Owing, no stage yet")}
CLASS_LABELS = {"A": _l("A (5000.00 or more)"), "B": _l("B (1000.00 to 4999.99)"), "C": _l("C (under 1000.00)")}


def aging_label(bucket):
    if bucket.key == LATE_FEE_ONLY:
        return _("Late fee only")
    if bucket.key == NOT_YET_DUE:
        return _("Not yet due")
    if bucket.high is None:
        return _("Over %(days)s days", days=bucket.low - 1)
    return _("%(low)s–%(high)s days", low=bucket.low, high=bucket.high)


def percent(value):
    return "—" if value is None else f"{value}%"


# The household page's endpoint: ``household.show`` (web/household.py); ``household.page``
# was its name in the plan.
HOUSEHOLD_ENDPOINTS = ("household.show", "household.page")


def household_url(unit_id):
    """The household page, when that blueprint has one; else no link."""
    for endpoint in HOUSEHOLD_ENDPOINTS:
        if endpoint in current_app.view_functions:
            return url_for(endpoint, unit_id=unit_id)
    return None


def list_url(**filters):
    """The household list with these filters, once it exists; else no link."""
    if "households.index" in current_app.view_functions:
        return url_for("households.index", **filters)
    return None


def local_now():
    return datetime.now(ZoneInfo(current_app.config["ARREARS_TIMEZONE"]))


def page_context():
    seq, head = chain_head()
    return {"fen": money, "chain_seq": seq, "chain_head": head[:16],
            "estates": db.session.query(Estate).order_by(Estate.name).all()}


@bp.get("/")
@login_required
def index():
    """The overview; for a lawyer, only the totals of their households escalated to legal."""
    now = local_now()
    today = now.date()
    if current_user.role == "lawyer":
        return render_template("dashboard.html", lawyer=True, today=today,
                               totals=legal_totals(today, current_user.username),
                               **page_context())
    figures = build_dashboard(today, now)
    aging_svg = bar_chart(
        [(aging_label(b), b.amount_fen, _("%(households)s households · %(amount)s", households=b.households,
                                         amount=money(b.amount_fen))) for b in figures.aging],
        title=_("Amount owed by days overdue"))
    collection_svg = column_chart(
        [(m.period, m.rate_percent, percent(m.rate_percent), m.to_date) for m in figures.collection],
        title=_("Collection rate by month"), reference=100, reference_text="100%")
    return render_template("dashboard.html", lawyer=False, today=today, totals=figures.totals, figures=figures,
                           aging_svg=aging_svg,
                           collection_svg=collection_svg, aging_label=aging_label, percent=percent,
                           stage_labels=STAGE_LABELS, class_labels=CLASS_LABELS, household_url=household_url,
                           list_url=list_url, policy=contact_policy(), **page_context())


@bp.get("/queue")
@role_required("clerk", "manager")
def queue():
    """Today's whole work queue: every household the overview's queue counts, not only
    its first ``QUEUE_SIZE``; the same rows (``reports.day_figures``, kept for the day, as
    ``build_dashboard`` reads them) and the same order."""
    now = local_now()
    today = now.date()
    rows = households(today, escalation_states(), day_figures(today))
    policy = contact_policy()
    found = work_queue(today, now, rows, size=max(len(rows), 1), policy=policy)
    return render_template("queue.html", today=today, queue=found, policy=policy, stage_labels=STAGE_LABELS,
                           household_url=household_url)


@bp.record_once
def _favicon(state):
    """``/favicon.ico``, asked for by browsers and tools without reading the page's
    ``<link rel=icon>``: the static file, no login (the ``static`` endpoint serves it)."""
    app = state.app
    app.add_url_rule("/favicon.ico", endpoint="static", view_func=app.view_functions["static"],
                     defaults={"filename": "favicon.ico"})


@bp.get("/healthz")
def health():
    db.session.execute(db.select(Estate.id).limit(1))  # the schema is there, not only the file
    return {"status": "ok"}
