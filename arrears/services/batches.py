"""Batch runs of notices (SPEC §6): one notice for every household of a stage.

Invariants:
- A batch's households are fixed when it is made (its items, in building and unit order).
- An item is issued at most once: ``issue_notice`` claims the item in the same
  transaction that writes the notice, so a batch stopped anywhere (a crash, a restart,
  a killed process) and run again issues only what is still missing.
- The work is spread over processes (one per core by default); each renders, signs and
  stores its notices, so memory stays that of one notice per process however large the
  batch.
- The print file holds the batch's notices in item order, each starting on an odd page
  (a blank page follows a notice with an odd number of pages) for duplex printing.
"""
import multiprocessing
import os
import subprocess
from concurrent.futures import ProcessPoolExecutor, as_completed
from datetime import datetime, timezone

from flask import current_app
from sqlalchemy import func, select, update

from ..extensions import db
from ..models import NOTICE_KINDS, NOTICE_LANGUAGES, Notice, NoticeBatch, NoticeBatchItem, Unit
from .errors import NotFound, ServiceError
from .evidence import append_event
from .files import path_of, store_path
from .transaction import atomic

BATCH_STAGES = ("reminder", "demand", "final", "legal")
# Config handed to the worker processes: enough to open the same database and data folder.
_WORKER_CONFIG_PREFIXES = ("ARREARS_", "SQLALCHEMY_DATABASE_URI", "SECRET_KEY", "TESTING", "BABEL_")


def households_in_stage(stage, as_of, estate_id=None):
    """Unit ids of the households in ``stage`` on ``as_of``, in building and unit order."""
    from .households import ListQuery, all_households
    rows = all_households(ListQuery(stage=stage, estate_id=estate_id), as_of)
    return [row.unit_id for row in sorted(rows, key=lambda row: _walk_order(row.ref))]


def _walk_order(ref):
    """``示例花园/3栋/1201`` sorts by estate, building and unit with numbers as numbers."""
    import re
    return [[int(part) if part.isdigit() else part for part in re.split(r"(\d+)", piece)] for piece in ref.split("/")]


def create_batch(kind, stage, as_of, actor, language="zh_CN", estate_id=None):
    """Make a batch of ``kind`` notices for the households of ``stage``; raises
    ``ServiceError`` when there are none or the request is bad."""
    if kind not in NOTICE_KINDS:
        raise ServiceError("notice kind %(kind)s must be one of %(allowed)s", kind=repr(kind),
                           allowed=", ".join(NOTICE_KINDS))
    if stage not in BATCH_STAGES:
        raise ServiceError("stage %(stage)s must be one of %(allowed)s", stage=repr(stage),
                           allowed=", ".join(BATCH_STAGES))
    if language not in NOTICE_LANGUAGES:
        raise ServiceError("language %(language)s must be one of %(allowed)s", language=repr(language),
                           allowed=", ".join(NOTICE_LANGUAGES))
    from .ledger import local_today
    if as_of > local_today():
        raise ServiceError("as-of date %(day)s is in the future", day=as_of)
    with atomic():
        unit_ids = households_in_stage(stage, as_of, estate_id)
        if not unit_ids:
            raise ServiceError("no household is in stage %(stage)s as of %(day)s; no batch made", stage=stage,
                               day=as_of)
        batch = NoticeBatch(kind=kind, stage=stage, as_of=as_of, language=language, estate_id=estate_id,
                            status="queued", total=len(unit_ids), created_by=actor)
        db.session.add(batch)
        db.session.flush()
        db.session.execute(NoticeBatchItem.__table__.insert(),
                           [{"batch_id": batch.id, "unit_id": unit_id, "position": position}
                            for position, unit_id in enumerate(unit_ids, start=1)])
        append_event("notice_batch_created", actor, None, {
            "batch_id": batch.id, "kind": kind, "stage": stage, "as_of": as_of.isoformat(),
            "language": language, "households": len(unit_ids)})
    return batch


def unfinished_batch(kind, stage, as_of, language="zh_CN"):
    """The newest batch with these settings that has not finished, or None."""
    return db.session.execute(
        select(NoticeBatch).where(NoticeBatch.kind == kind, NoticeBatch.stage == stage, NoticeBatch.as_of == as_of,
                                  NoticeBatch.language == language, NoticeBatch.status != "done")
        .order_by(NoticeBatch.id.desc()).limit(1)).scalar_one_or_none()


def get_batch(batch_id):
    batch = db.session.get(NoticeBatch, batch_id)
    if batch is None:
        raise NotFound("batch #%(id)s does not exist", id=batch_id)
    return batch


def progress_of(batch_id):
    """``(done, total)``: items issued or skipped, and all items."""
    done, total = db.session.execute(
        select(func.count(NoticeBatchItem.notice_id) + func.count(NoticeBatchItem.skipped), func.count())
        .where(NoticeBatchItem.batch_id == batch_id)).one()
    return done, total


def pending_items(batch_id):
    return db.session.execute(select(NoticeBatchItem.id).where(
        NoticeBatchItem.batch_id == batch_id, NoticeBatchItem.notice_id.is_(None),
        NoticeBatchItem.skipped.is_(None)).order_by(NoticeBatchItem.position)).scalars().all()


def issue_item(item_id):
    """Issue the notice of one batch item (nothing when it already has one). Returns
    ``"issued"``, ``"done before"`` or ``"skipped"``."""
    from .notices import AlreadyIssued, issue_notice
    item = db.session.get(NoticeBatchItem, item_id)
    if item.notice_id is not None or item.skipped is not None:
        return "done before"
    batch = db.session.get(NoticeBatch, item.batch_id)
    unit = db.session.get(Unit, item.unit_id)
    kind, as_of, actor, language = batch.kind, batch.as_of, batch.created_by, batch.language
    try:
        issue_notice(unit, kind, as_of, actor, language, batch_item_id=item_id)
    except AlreadyIssued:
        db.session.rollback()
        return "done before"
    except ServiceError as refused:  # e.g. the household paid since the batch was made
        db.session.rollback()
        with atomic():
            db.session.execute(update(NoticeBatchItem).where(NoticeBatchItem.id == item_id,
                                                             NoticeBatchItem.notice_id.is_(None))
                               .values(skipped=str(refused)[:200]))
        return "skipped"
    return "issued"


def _set_status(batch_id, status, error=None):
    with atomic():
        values = {"status": status, "error": error}
        if status in ("done", "failed"):
            values["finished_at"] = datetime.now(timezone.utc)
        db.session.execute(update(NoticeBatch).where(NoticeBatch.id == batch_id).values(**values))


def worker_count():
    configured = current_app.config.get("ARREARS_WORKERS") or 0
    return configured if configured > 0 else (os.cpu_count() or 1)


def run_batch(batch_id, workers=None, progress=None):
    """Issue every missing notice of the batch, then make its print file. ``progress(done,
    total)`` is called as notices are issued. Safe to call again after any interruption."""
    batch = get_batch(batch_id)
    if batch.status == "done":
        return batch
    _set_status(batch_id, "running")
    workers = workers or worker_count()
    pending = pending_items(batch_id)
    done, total = progress_of(batch_id)
    if progress:
        progress(done, total)
    try:
        if workers <= 1 or len(pending) <= 1:
            _freeze_heap()
            for item_id in pending:
                issue_item(item_id)
                done += 1
                if progress:
                    progress(done, total)
        else:
            config = {key: value for key, value in current_app.config.items()
                      if key.startswith(_WORKER_CONFIG_PREFIXES)}
            db.session.remove()
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_start_worker,
                                     initargs=(config,)) as pool:
                futures = [pool.submit(_issue_in_worker, item_id) for item_id in pending]
                for future in as_completed(futures):
                    future.result()
                    done += 1
                    if progress:
                        progress(done, total)
        merge_print_file(batch_id)
    except Exception as error:
        db.session.rollback()
        _set_status(batch_id, "failed", f"{error.__class__.__name__}: {error}"[:1000])
        raise
    return get_batch(batch_id)


_worker_app = None


def _freeze_heap():
    """Move what the process holds so far (the app, fonts, the signer) out of the garbage
    collector's way: each notice allocates much and the collector would otherwise walk
    that long-lived heap again and again."""
    import gc
    gc.collect()
    gc.freeze()


def _start_worker(config):
    """A worker process: its own app (and database connections) for the whole batch."""
    global _worker_app
    from .. import create_app
    _worker_app = create_app(config)
    _worker_app.app_context().push()
    _freeze_heap()


def _issue_in_worker(item_id):
    try:
        return issue_item(item_id)
    finally:
        db.session.remove()


def batch_notices(batch_id):
    """The batch's notices in item order."""
    return db.session.execute(select(Notice).join(NoticeBatchItem, NoticeBatchItem.notice_id == Notice.id)
                              .where(NoticeBatchItem.batch_id == batch_id)
                              .order_by(NoticeBatchItem.position)).scalars().all()


def merge_print_file(batch_id):
    """Write the batch's print file (every notice on an odd page) and mark it done.

    The notices are joined by ``qpdf`` from the stored files on disk, in a process of its
    own: the program never holds the batch in memory, however large it is."""
    from pypdf import PdfReader
    notices = batch_notices(batch_id)
    folder = os.path.join(current_app.config["ARREARS_DATA_DIR"], "files", "tmp")
    os.makedirs(folder, exist_ok=True)
    blank = os.path.join(folder, f"blank-{os.getpid()}.pdf")
    output = os.path.join(folder, f"print-{batch_id}-{os.getpid()}.pdf")
    arguments = os.path.join(folder, f"print-{batch_id}-{os.getpid()}.args")
    try:
        lines = ["--empty", "--pages"]
        need_blank = False
        for notice in notices:
            path = path_of(notice.sha256)
            lines.append(path)
            if len(PdfReader(path).pages) % 2:
                lines.append(blank)
                need_blank = True
        lines += ["--", output]
        if need_blank:
            _write_blank_page(blank)
        with open(arguments, "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")
        if notices:
            done = subprocess.run(["qpdf", f"@{arguments}"], capture_output=True, text=True)
            if done.returncode not in (0, 3):  # 3: warnings only
                raise ServiceError("qpdf could not make the print file: %(detail)s", detail=done.stderr.strip()[:500])
        else:
            _write_blank_page(output)
        with atomic():
            sha = store_path(output, "application/pdf")
            db.session.execute(update(NoticeBatch).where(NoticeBatch.id == batch_id)
                               .values(print_sha256=sha, status="done", error=None,
                                       finished_at=datetime.now(timezone.utc)))
            append_event("notice_batch_finished", get_batch(batch_id).created_by, None, {
                "batch_id": batch_id, "notices": len(notices), "print_sha256": sha})
        return sha
    finally:
        for leftover in (blank, arguments, output):
            if os.path.exists(leftover):
                os.remove(leftover)


def _write_blank_page(path):
    """One empty A4 page (the back of a notice with an odd number of pages)."""
    from pypdf import PdfWriter
    writer = PdfWriter()
    writer.add_blank_page(width=595.28, height=841.89)
    with open(path, "wb") as handle:
        writer.write(handle)
