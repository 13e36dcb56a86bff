"""The command line (SPEC §10): ``flask --app wsgi arrears …``.

Every command turns bad input into one clear message on standard error and exit
status 1; none prints a traceback for something the user can fix.
"""
import functools
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from datetime import date

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from .domain.errors import ChainBroken, DomainError
from .domain.evidence import canonical_json
from .domain.money import format_fen, parse_amount
from .extensions import db

arrears = AppGroup("arrears", help="Arrears: ledger, notices and evidence for a property office.")


def init_app(app):
    app.cli.add_command(arrears)


def fail(message):
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def friendly(command):
    """Turn domain and database errors into ``error: …`` and exit status 1."""
    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except DomainError as error:
            db.session.rollback()
            fail(str(error))
        except (OperationalError, ProgrammingError) as error:
            db.session.rollback()
            if "no such table" in str(error) or "does not exist" in str(error):
                fail("the database is not set up yet; run: flask --app wsgi arrears init-db")
            fail(f"database error: {error.orig}")
        except IntegrityError as error:
            db.session.rollback()
            fail(f"refused by the database (someone else may have done the same at the same time): {error.orig}")
    return wrapper


def iso_date(_ctx, param, value):
    if value is None:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date like 2026-11-23", param=param) from None
    if not 1900 <= day.year <= 2999:
        raise click.BadParameter(f"{value} is outside the years 1900–2999", param=param)
    return day


def new_output_file(path):
    """Refuse to overwrite a file or to write into a folder that does not exist."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        fail(f"cannot write {path}: folder {folder} does not exist")
    if os.path.exists(path):
        fail(f"{path} already exists; choose a new file name")


@arrears.command("init-db")
@friendly
def init_db_command():
    """Create the database, or upgrade it to the newest schema."""
    from flask_migrate import upgrade
    upgrade()
    click.echo(f"database ready: {_safe_url()}")


def _safe_url():
    return db.engine.url.render_as_string(hide_password=True)


@arrears.command("demo")
@click.option("--if-empty", is_flag=True, help="Do nothing when the database already holds an estate.")
@click.option("--as-of", callback=iso_date, help="The demo's 'today' (default: today).")
@friendly
def demo_command(if_empty, as_of):
    """Load the demo estate 示例花园 with two years of bills and payments, and demo users."""
    from .services.demo import load_demo, has_data
    if if_empty and has_data():
        click.echo("demo: the database already holds data; nothing loaded")
        return
    summary = load_demo(as_of=as_of, progress=lambda text: click.echo(text, err=True))
    click.echo(summary)


@arrears.command("create-user")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(["clerk", "manager", "lawyer", "admin"]))
@friendly
def create_user_command(name, role):
    """Make a user; the password is asked for (or read from standard input)."""
    from .services.users import create_user
    if sys.stdin.isatty():
        password = click.prompt("password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    user = create_user(name, role, password)
    click.echo(f"user {user.username} ({user.role}) created")


@arrears.command("import")
@click.argument("kind", type=click.Choice(["units", "charges", "payments", "hardship", "waivers", "deliveries"]))
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--actor", default="import", help="Who is importing (recorded in the evidence events).")
@friendly
def import_command(kind, file, actor):
    """Import a CSV or XLSX file, all or nothing."""
    from .services.errors import ImportRejected
    from .services.imports import import_file
    if not os.path.isfile(file):
        fail(f"{file}: no such file")
    try:
        count = import_file(kind, file, actor)
    except ImportRejected as rejected:
        for line in rejected.errors:
            click.echo(line, err=True)
        click.echo(f"nothing imported: {len(rejected.errors)} bad row(s) in {file}", err=True)
        sys.exit(1)
    click.echo(f"imported {count} {kind} row(s) from {file}")


@arrears.command("bill")
@click.option("--period", required=True, help="YYYY-MM")
@click.option("--estate", default=None, help="Only this estate (default: all).")
@friendly
def bill_command(period, estate):
    """Billing run: one charge per unit and fee item for the period (idempotent)."""
    from .services.postings import bill_period, parse_period
    period = parse_period(period)
    created = bill_period(period, "cli", estate_name=estate)
    if created:
        click.echo(f"billed {period}: {created} charge(s) created")
    else:
        click.echo(f"billed {period}: nothing to create (already billed, or no active fee items)")


@arrears.command("pay")
@click.argument("unit_ref")
@click.option("--amount", required=True)
@click.option("--paid-on", callback=iso_date, help="Default: today.")
@click.option("--method", required=True)
@click.option("--reference", required=True)
@click.option("--periods", default="", help="Comma-separated periods the payer named.")
@friendly
def pay_command(unit_ref, amount, paid_on, method, reference, periods):
    """Post one payment (a reference already posted is reported, not posted again)."""
    from .services.errors import DuplicatePayment
    from .services.ledger import find_unit, local_today
    from .services.postings import post_payment
    unit = find_unit(unit_ref)
    try:
        payment = post_payment(unit, parse_amount(amount), paid_on or local_today(), method, reference, "cli",
                               tuple(p.strip() for p in periods.split(",") if p.strip()))
    except DuplicatePayment as duplicate:
        click.echo(str(duplicate))
        return
    click.echo(f"payment #{payment.id} posted: {format_fen(payment.amount_fen)} for {unit.ref}")


@arrears.command("reverse-payment")
@click.argument("payment_id", type=int)
@click.option("--reason", required=True)
@friendly
def reverse_payment_command(payment_id, reason):
    """Reverse a payment, with a reason. The payment stays on record."""
    from .services.postings import reverse_payment
    payment = reverse_payment(payment_id, reason, "cli")
    click.echo(f"payment #{payment.id} ({payment.reference}) reversed")


@arrears.command("statement")
@click.argument("unit_ref")
@click.option("--as-of", callback=iso_date, help="YYYY-MM-DD (default: today).")
@click.option("--json", "as_json", is_flag=True, help="Print SPEC §10's JSON object.")
@friendly
def statement_command(unit_ref, as_of, as_json):
    """A unit's statement as of a date."""
    from .services.ledger import find_unit, local_today, statement_json
    unit = find_unit(unit_ref)
    document = statement_json(unit, as_of or local_today(unit.building.estate.timezone))
    if as_json:
        click.echo(json.dumps(document, ensure_ascii=False))
        return
    click.echo(f"{document['unit']}  as of {document['as_of']}  ({document['currency']})")
    header = f"{'period':8} {'fee item':10} {'due':10} {'amount':>10} {'principal':>10} {'days':>5} {'late fee':>9}"
    click.echo(header)
    for line in document["charges"]:
        click.echo(f"{line['period']:8} {line['fee_item']:10} {line['due_date']:10} {line['amount']:>10} "
                   f"{line['principal_outstanding']:>10} {line['days_overdue']:>5} {line['late_fee_outstanding']:>9}"
                   + (f"  limitation {line['limitation_expires']}" if "limitation_expires" in line else ""))
    totals = document["totals"]
    click.echo(f"principal {totals['principal_outstanding']}  late fee {totals['late_fee_outstanding']}  "
               f"total {totals['total_outstanding']}  credit {document['credit']}")


@arrears.command("report")
@click.option("--as-of", callback=iso_date, help="YYYY-MM-DD (default: today).")
@click.option("--top", default=20, show_default=True)
@friendly
def report_command(as_of, top):
    """Portfolio arrears: totals and the units owing most."""
    from .models import Unit
    from .services.ledger import local_today
    from .services.reports import portfolio_report
    report = portfolio_report(as_of or local_today(), top=top)
    click.echo(f"as of {report['as_of']}: {report['units_owing']} of {report['units']} units owe "
               f"principal {format_fen(report['principal_outstanding_fen'])}, "
               f"late fee {format_fen(report['late_fee_outstanding_fen'])}")
    for row in report["top"]:
        unit = db.session.get(Unit, row.unit_id)
        click.echo(f"{unit.ref:30} {format_fen(row.principal_outstanding_fen):>12} "
                   f"{format_fen(row.late_fee_outstanding_fen):>10} {format_fen(row.total_outstanding_fen):>12}")


@arrears.command("check-balances")
@click.option("--as-of", callback=iso_date, help="YYYY-MM-DD (default: today).")
@friendly
def check_balances_command(as_of):
    """Prove the fast report equals the engine for every unit (exit 1 if not)."""
    from .services.ledger import local_today
    from .services.reports import check_balances
    mismatches = check_balances(as_of or local_today())
    for unit, fast, reference in mismatches:
        click.echo(f"{unit.ref}: report {fast} but engine {reference}", err=True)
    if mismatches:
        sys.exit(1)
    click.echo("balances agree with the ledger engine")


@arrears.command("refresh-balances")
@click.option("--stale", is_flag=True,
              help="Only the units whose projection does not cover today (what the worker does every hour).")
@friendly
def refresh_balances_command(stale):
    """Rebuild every unit's balances from the ledger (e.g. nightly, after a policy change)."""
    from .models import Unit
    from .services.ledger import refresh_unit_balances
    from .services.transaction import atomic
    if stale:
        from .services.reports import refresh_stale_balances
        click.echo(f"balances rebuilt for {refresh_stale_balances()} stale unit(s)")
        return
    with atomic():
        units = db.session.query(Unit).all()
        for unit in units:
            refresh_unit_balances(unit)
    click.echo(f"balances rebuilt for {len(units)} unit(s)")


@arrears.command("notice")
@click.argument("unit_ref")
@click.option("--kind", required=True, type=click.Choice(["reminder", "demand", "final"]))
@click.option("--as-of", callback=iso_date, help="YYYY-MM-DD (default: today).")
@click.option("--language", default="zh_CN", show_default=True, type=click.Choice(["zh_CN", "en"]))
@click.option("-o", "--output", "output", required=True, type=click.Path(dir_okay=False))
@click.option("--actor", default="cli", help="Who issues it (recorded in the evidence event).")
@friendly
def notice_command(unit_ref, kind, as_of, language, output, actor):
    """Issue one signed notice; write its PDF and print its serial."""
    from .services.files import read_file
    from .services.ledger import find_unit, local_today
    from .services.notices import issue_notice
    new_output_file(output)
    unit = find_unit(unit_ref)
    notice = issue_notice(unit, kind, as_of or local_today(unit.building.estate.timezone), actor, language)
    _write_new(output, read_file(notice.sha256))
    click.echo(notice.serial)


def _copy_new(source, path):
    """Copy a stored file out, streaming (a print file can be large)."""
    temporary = path + ".part"
    shutil.copyfile(source, temporary)
    os.replace(temporary, path)


def _write_new(path, data):
    temporary = path + ".part"
    with open(temporary, "wb") as handle:
        handle.write(data)
    os.replace(temporary, path)


@arrears.command("notices")
@click.option("--stage", required=True, type=click.Choice(["reminder", "demand", "final", "legal"]))
@click.option("--kind", type=click.Choice(["reminder", "demand", "final"]),
              help="Default: the stage's own kind (legal: final).")
@click.option("--as-of", callback=iso_date, help="YYYY-MM-DD (default: today).")
@click.option("--language", default="zh_CN", show_default=True, type=click.Choice(["zh_CN", "en"]))
@click.option("--workers", type=click.IntRange(1, 64), help="Processes (default: one per core).")
@click.option("-o", "--output", "output", required=True, type=click.Path(file_okay=False))
@click.option("--actor", default="cli", help="Who issues them (recorded in the evidence events).")
@friendly
def notices_command(stage, kind, as_of, language, workers, output, actor):
    """Batch of notices for every household of a stage: DIR/print.pdf and one PDF each.

    A batch stopped half-way (Ctrl-C, a crash) is resumed by the same command: only the
    notices still missing are issued."""
    from .services.batches import batch_notices, create_batch, run_batch, unfinished_batch
    from .services.files import path_of
    from .services.ledger import local_today
    kind = kind or {"legal": "final"}.get(stage, stage)
    as_of = as_of or local_today()
    if os.path.exists(output) and not os.path.isdir(output):
        fail(f"{output} exists and is not a folder")
    os.makedirs(output, exist_ok=True)
    batch = unfinished_batch(kind, stage, as_of, language)
    if batch is not None:
        click.echo(f"resuming batch #{batch.id} ({batch.total} household(s))", err=True)
    else:
        batch = create_batch(kind, stage, as_of, actor, language)
        click.echo(f"batch #{batch.id}: {batch.total} household(s) in stage {stage}", err=True)
    batch_id, total = batch.id, batch.total
    with click.progressbar(length=total, label=f"{kind} notices", file=sys.stderr,
                           show_pos=True, show_eta=True) as bar:
        state = {"shown": 0}

        def progress(done, _total):
            bar.update(done - state["shown"])
            state["shown"] = done

        batch = run_batch(batch_id, workers=workers, progress=progress)
    notices = batch_notices(batch_id)
    for notice in notices:
        _copy_new(path_of(notice.sha256), os.path.join(output, f"{notice.serial}.pdf"))
    _copy_new(path_of(batch.print_sha256), os.path.join(output, "print.pdf"))
    skipped = total - len(notices)
    click.echo(f"{len(notices)} notice(s) in {os.path.join(output, 'print.pdf')}"
               + (f"; {skipped} household(s) skipped (nothing owed any more)" if skipped else ""))


@arrears.command("receipt")
@click.argument("payment_id", type=int)
@click.option("-o", "--output", "output", required=True, type=click.Path(dir_okay=False))
@friendly
def receipt_command(payment_id, output):
    """Print a payment's receipt (the first print is the original, later ones are copies)."""
    from .models import Receipt
    from .services.files import read_file
    from .services.notices import print_receipt
    new_output_file(output)
    printed = print_receipt(payment_id, "cli")
    receipt = db.session.get(Receipt, printed.receipt_id)
    _write_new(output, read_file(printed.sha256))
    click.echo(f"{receipt.serial}" + (f" (copy {printed.copy_no})" if printed.copy_no else ""))


@arrears.command("worker")
@click.option("--no-resume", is_flag=True, help="Do not re-run batches left unfinished.")
def worker_command(no_resume):
    """Run the background-job consumer (batch printing)."""
    from .jobs import bind_app, huey, resume_unfinished
    bind_app(current_app._get_current_object())
    if not no_resume:
        resumed = resume_unfinished()
        if resumed:
            click.echo(f"worker: resuming batch(es) {', '.join(map(str, resumed))}", err=True)
    consumer = huey.create_consumer(workers=1, worker_type="thread")
    consumer.run()


@arrears.command("bundle")
@click.argument("unit_ref")
@click.option("-o", "--output", "output", required=True, type=click.Path(dir_okay=False))
@click.option("--as-of", callback=iso_date, help="Figures as of YYYY-MM-DD (default: today).")
@click.option("--actor", default="cli", help="Who exports it (recorded in the manifest and the evidence event).")
@friendly
def bundle_command(unit_ref, output, as_of, actor):
    """Export a household's evidence bundle (ZIP); print its path and SHA-256."""
    import hashlib
    from .services.bundles import export_bundle
    from .services.ledger import find_unit
    new_output_file(output)
    unit = find_unit(unit_ref)
    data, _export = export_bundle(unit, actor, as_of)
    _write_new(output, data)
    click.echo(f"{output}  sha256 {hashlib.sha256(data).hexdigest()}")


@arrears.command("verify-bundle")
@click.argument("file", type=click.Path(dir_okay=False))
def verify_bundle_command(file):
    """Check an evidence bundle: every file against the manifest, every signature, every
    event's hash and the chain head; exit 1 naming each problem."""
    from .services.bundles import check_bundle
    if not os.path.exists(file):
        fail(f"{file}: no such file")
    if not os.path.isfile(file):
        fail(f"{file}: not a file")
    check = check_bundle(file, current_app.config["ARREARS_DATA_DIR"])
    if check.problems:
        for problem in check.problems:
            click.echo(problem, err=True)
        click.echo(f"bundle NOT intact: {len(check.problems)} problem(s) in {file}", err=True)
        sys.exit(1)
    click.echo(check.summary())


@arrears.command("verify-chain")
@click.option("--checkpoint", "checkpoint", type=click.Path(dir_okay=False),
              help="Also check the chain against a signed checkpoint file (truncated or rebuilt?).")
@friendly
def verify_chain_command(checkpoint):
    """Recompute the evidence chain and check the ledger rows against their events; exit 1
    naming the first event that does not match, or every record that disagrees."""
    from .services.evidence import chain_head, verify_chain
    from .services.integrity import verify_records
    try:
        count = verify_chain()
    except ChainBroken as broken:
        click.echo(f"evidence chain BROKEN at event {broken.seq}: {broken.reason}", err=True)
        sys.exit(1)
    problems = verify_records()
    if checkpoint:
        from .services.checkpoints import verify_against
        problems += [f"checkpoint: {problem}" for problem in verify_against(checkpoint)]
    if problems:
        for problem in problems:
            click.echo(f"BROKEN: {problem}", err=True)
        sys.exit(1)
    seq, head = chain_head()
    click.echo(f"evidence chain intact: {count} event(s); head {seq} {head[:16]}")
    click.echo("records agree with their events" + ("; the chain matches the checkpoint" if checkpoint else ""))


@arrears.command("checkpoint")
@friendly
def checkpoint_command():
    """Write a signed checkpoint of the chain's head to ARREARS_DATA_DIR/checkpoints/ (keep a copy elsewhere)."""
    from .services.checkpoints import write_checkpoint
    path = write_checkpoint("cli")
    click.echo(path)


@arrears.command("export-events")
@click.option("-o", "--output", "output", required=True, type=click.Path(dir_okay=False, writable=True))
@friendly
def export_events_command(output):
    """Write the whole evidence chain, one event per line, as stored."""
    from .services.evidence import iter_events
    folder = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(folder):
        fail(f"cannot write {output}: folder {folder} does not exist")
    count = 0
    temporary = output + ".part"
    try:
        with open(temporary, "w", encoding="utf-8") as handle:
            for event in iter_events():
                handle.write(canonical_json(event) + "\n")
                count += 1
        os.replace(temporary, output)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    click.echo(f"exported {count} event(s) to {output}")


@arrears.command("backup")
@click.argument("file", type=click.Path(dir_okay=False))
@friendly
def backup_command(file):
    """A consistent copy of the database, taken while the app runs."""
    url = db.engine.url
    new_output_file(file)
    if url.get_backend_name() == "sqlite":
        source = sqlite3.connect(url.database)
        target = sqlite3.connect(file)
        with target:
            source.backup(target)
        target.close()
        source.close()
        click.echo(f"backup written to {file} ({os.path.getsize(file)} bytes)")
        click.echo(f"keep {os.path.join(current_app.config['ARREARS_DATA_DIR'], 'keys')} too: "
                   "encrypted fields need its key")
        return
    plain = url.set(drivername="postgresql").render_as_string(hide_password=False)
    if shutil.which("pg_dump") is None:
        fail("this database is PostgreSQL: back it up with\n"
             f"  pg_dump --format=custom --file {file} '{url.set(drivername='postgresql').render_as_string()}'")
    result = subprocess.run(["pg_dump", "--format=custom", "--file", file, plain], capture_output=True, text=True)
    if result.returncode != 0:
        fail(f"pg_dump failed: {result.stderr.strip()}")
    click.echo(f"backup written to {file} with pg_dump (restore with pg_restore)")
