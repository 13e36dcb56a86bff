"""Batch runs of notices (SPEC §6): every household of a stage gets exactly one notice,
even when the run is killed half-way and started again; the print file puts every
notice on an odd page."""
import io
import os
import signal
import subprocess
import sys
import time

from pypdf import PdfReader
from sqlalchemy import func, select

from arrears.extensions import db
from arrears.models import Notice, NoticeBatchItem
from notice_helpers import clock, count, many_households, pdf_text  # noqa: F401  (fixtures)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def check_print_file(folder):
    """Each notice of the folder starts on an odd page (1-based) of print.pdf, in the
    batch's item order (building and unit). With several processes the serials are taken
    as the notices are rendered, so they need not follow that order."""
    reader = PdfReader(os.path.join(folder, "print.pdf"))
    in_order = db.session.execute(select(Notice.serial).join(NoticeBatchItem, NoticeBatchItem.notice_id == Notice.id)
                                  .order_by(NoticeBatchItem.batch_id.desc(), NoticeBatchItem.position)).scalars().all()
    db.session.remove()
    notices = [f"{serial}.pdf" for serial in in_order if os.path.exists(os.path.join(folder, f"{serial}.pdf"))]
    assert sorted(notices) == sorted(name for name in os.listdir(folder) if name.startswith("SL-"))
    page = 0
    for name in notices:
        pages = len(PdfReader(os.path.join(folder, name)).pages)
        assert page % 2 == 0, f"{name} starts on page {page + 1}"
        assert name[:-4] in reader.pages[page].extract_text(), name
        page += pages + pages % 2
    assert len(reader.pages) == page
    return notices


def test_notices_command_prints_a_stage_over_two_processes(cli, many_households, tmp_path):
    many_households(6)
    out = tmp_path / "batch"
    result = cli("notices", "--stage", "demand", "--as-of", "2026-05-31", "--workers", "2", "-o", out)
    assert result.exit_code == 0, result.output
    assert "6 notice(s) in" in result.stdout
    notices = check_print_file(out)
    assert len(notices) == 6
    texts = [pdf_text((out / name).read_bytes()) for name in notices]
    owners = [[n for n in range(1, 7) if f"业主{n:03d}" in text] for text in texts]
    assert sorted(owners) == [[n] for n in range(1, 7)]
    assert count("notices") == 6 and count("notice_batches") == 1
    # Run again: the batch is done; nothing new is issued.
    again = cli("notices", "--stage", "demand", "--as-of", "2026-05-31", "-o", tmp_path / "again")
    assert again.exit_code == 0 and count("notices") == 12  # a new batch, as asked; the first one stays


def test_a_batch_killed_half_way_resumes_and_issues_each_notice_once(app, cli, many_households, tmp_path):
    many_households(50)
    env = dict(os.environ, DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
               ARREARS_DATA_DIR=app.config["ARREARS_DATA_DIR"], PYTHONPATH=ROOT)
    env.pop("TEST_DATABASE_URL", None)
    command = [sys.executable, "-m", "flask", "--app", "wsgi", "arrears", "notices", "--stage", "demand",
               "--as-of", "2026-05-31", "--workers", "1", "-o", str(tmp_path / "out")]
    db.session.remove()
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               start_new_session=True)
    deadline = time.monotonic() + 180
    issued = 0
    while time.monotonic() < deadline and process.poll() is None:
        issued = db.session.execute(select(func.count()).select_from(Notice)).scalar_one()
        db.session.remove()
        if issued >= 12:
            break
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    partly = db.session.execute(select(func.count()).select_from(Notice)).scalar_one()
    assert 12 <= partly < 50, f"killed after {partly} notices"
    db.session.remove()
    finished = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stderr
    assert "resuming batch" in finished.stderr
    per_unit = db.session.execute(select(Notice.unit_id, func.count()).group_by(Notice.unit_id)).all()
    assert len(per_unit) == 50 and all(n == 1 for _, n in per_unit)
    assert db.session.execute(select(func.count()).select_from(NoticeBatchItem)
                              .where(NoticeBatchItem.notice_id.is_(None))).scalar_one() == 0
    assert count("notice_batches") == 1
    assert len(check_print_file(tmp_path / "out")) == 50
