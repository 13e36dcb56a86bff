"""Background jobs with Huey: batch printing runs outside the web request.

The queue is a SQLite file in the data folder by default (``jobs.sqlite3``, nothing to
install), or Redis when ``ARREARS_JOBS_URL`` is a ``redis://`` URL. The consumer runs
as ``flask --app wsgi arrears worker`` (``make run`` starts it next to the web server).

A batch survives a restart: its state is in the database, not in the queue. When the
worker starts it runs again every batch that has not finished; a batch run again
issues only the notices still missing (see ``services/batches.py``).
"""
import os

from huey import RedisHuey, SqliteHuey, crontab

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _data_dir():
    return os.environ.get("ARREARS_DATA_DIR") or os.path.join(ROOT, "instance")


def make_huey():
    url = os.environ.get("ARREARS_JOBS_URL", "")
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisHuey("arrears", url=url)
    os.makedirs(_data_dir(), exist_ok=True)
    return SqliteHuey("arrears", filename=os.path.join(_data_dir(), "jobs.sqlite3"))


huey = make_huey()
_app = None  # the app the worker serves; set by the worker command


def bind_app(app):
    global _app
    _app = app


def _application():
    global _app
    if _app is None:
        from . import create_app
        _app = create_app()
    return _app


@huey.task()
def run_batch_job(batch_id):
    from .services.batches import run_batch
    with _application().app_context():
        run_batch(batch_id)


# Huey's schedule is in UTC: 15:55 UTC is 23:55 in Asia/Shanghai.
@huey.periodic_task(crontab(hour="15", minute="55"))
def daily_checkpoint():
    """Every evening: a signed checkpoint of the chain's head, and the breaks of payment
    plans recorded (a plan breaks by the calendar, with no act that would record it)."""
    from .extensions import db
    from .models import Unit
    from .services.checkpoints import write_checkpoint
    from .services.relief import approved_plan_unit_ids, record_plan_breaks
    with _application().app_context():
        for unit_id in approved_plan_unit_ids():
            record_plan_breaks(db.session.get(Unit, unit_id))
        write_checkpoint("worker")
        db.session.remove()


@huey.periodic_task(crontab(minute="2"))
def hourly_projection_refresh():
    """Every hour: rebuild the projection of the units it no longer covers today (see
    ``reports.refresh_stale_balances``; usually none, a query on ``unit_balances``)."""
    from .extensions import db
    from .services.reports import refresh_stale_balances
    with _application().app_context():
        refresh_stale_balances()
        db.session.remove()


def enqueue_batch(batch_id, app=None):
    """Queue the batch; in immediate mode (tests without a worker) it runs at once."""
    if app is not None and app.config.get("ARREARS_JOBS_IMMEDIATE"):
        from .services.batches import run_batch
        return run_batch(batch_id)
    return run_batch_job(batch_id)


def resume_unfinished():
    """Queue every batch that was queued or running when the worker last stopped."""
    from sqlalchemy import select

    from .extensions import db
    from .models import NoticeBatch
    with _application().app_context():
        ids = db.session.execute(select(NoticeBatch.id).where(NoticeBatch.status.in_(("queued", "running")))
                                 .order_by(NoticeBatch.id)).scalars().all()
        db.session.remove()
    for batch_id in ids:
        run_batch_job(batch_id)
    return ids
