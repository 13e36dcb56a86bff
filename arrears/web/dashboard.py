"""The front page: what the portfolio owes today (the workbench arrives with issue 3)."""
from flask import Blueprint, render_template
from flask_login import login_required

from ..domain.money import format_fen
from ..extensions import db
from ..models import Estate
from ..services.evidence import chain_head
from ..services.ledger import local_today
from ..services.reports import portfolio_report

bp = Blueprint("dashboard", __name__)


@bp.get("/")
@login_required
def index():
    """Totals and the units owing most, from the same figures as ``arrears report``."""
    today = local_today()
    report = portfolio_report(today, top=0)
    seq, head = chain_head()
    return render_template("dashboard.html", report=report, fen=format_fen, today=today,
                           estates=db.session.query(Estate).order_by(Estate.name).all(),
                           chain_seq=seq, chain_head=head[:16])


@bp.get("/healthz")
def health():
    db.session.execute(db.select(Estate.id).limit(1))  # the schema is there, not only the file
    return {"status": "ok"}
