"""Keep the day's figures ready in a serving process, so that nobody waits for them.

The overview and the household list read every unit's figures for the day
(``reports.day_figures``), which each process computes once a day and then keeps,
updating only the households an act names. Computing them costs about the bare SQL
aggregate (a second or more at 20,000 units). Without this, the first person to open
the overview after a restart, and the first each morning, pays for it.

So a serving process starts one background thread at its first request (usually the
login page: the figures are ready before the password is typed). The thread builds
the overview for today — the day's figures and what the overview derives from them —
then sleeps until just after the next local midnight and does it again for the new day.
Command-line processes never serve a request, so they never start it; tests turn it off
(``TESTING``), and ``ARREARS_WARM_FIGURES=0`` turns it off anywhere.
"""
import threading
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app

# Seconds after local midnight at which the new day's figures are built.
AFTER_MIDNIGHT = 5
# Seconds to wait before trying again when building failed (e.g. the database was away).
RETRY = 300


def init_app(app):
    if not app.config.get("ARREARS_WARM_FIGURES", True) or app.config.get("TESTING"):
        return
    started = threading.Lock()
    state = {"thread": None}

    @app.before_request
    def start_warming():
        if state["thread"] is None and started.acquire(blocking=False):
            state["thread"] = threading.Thread(target=keep_warm, args=(current_app._get_current_object(),),
                                               name="arrears-day-figures", daemon=True)
            state["thread"].start()


def seconds_until_next_day(now):
    """Seconds from ``now`` (aware, local) to ``AFTER_MIDNIGHT`` seconds into the next local day."""
    tomorrow = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), tzinfo=now.tzinfo)
    return max((tomorrow - now).total_seconds() + AFTER_MIDNIGHT, 1)


def warm_once(app):
    """Build today's overview in ``app`` (which keeps what it computed); returns its day."""
    from ..extensions import db
    from ..services.dashboard import build_dashboard
    with app.app_context():
        try:
            now = datetime.now(ZoneInfo(app.config["ARREARS_TIMEZONE"]))
            build_dashboard(now.date(), now)
            return now.date()
        finally:
            db.session.remove()


def keep_warm(app, sleep=time.sleep):
    tz = ZoneInfo(app.config["ARREARS_TIMEZONE"])
    while True:
        try:
            warm_once(app)
        except Exception:  # never let the thread die: the pages compute the figures themselves
            app.logger.exception("building the day's figures in the background failed; retrying later")
            sleep(RETRY)
            continue
        sleep(seconds_until_next_day(datetime.now(tz)))
