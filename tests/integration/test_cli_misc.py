"""The remaining commands of SPEC §10: create-user, backup, init-db, the import kinds
that are not (yet) importable, and every command on a database that was never set up.

Invariants checked here: bad input is one clear line and exit status 1 (or click's
usage error, exit 2), never a traceback, and leaves nothing behind; a password is read
from standard input and stored only as a slow hash; a backup is a complete, readable
copy and never overwrites a file.
"""
import os
import shutil
import sqlite3
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import select, text

from arrears import create_app
from arrears.cli import arrears
from arrears.extensions import db
from arrears.models import User
from arrears.services.users import check_password

UNITS_CSV = ("estate,building,unit,area_m2,owner_name,owner_phone\n"
             "示例花园,3栋,1201,88.50,张三,13800001201\n"
             "示例花园,3栋,1202,100.00,李四,\n")
CHARGES_CSV = ("estate,building,unit,period,fee_item,amount,due_date\n"
               "示例花园,3栋,1201,2026-01,物业管理费,300.00,2026-01-31\n"
               "示例花园,3栋,1201,2026-02,物业管理费,300.00,2026-02-28\n"
               "示例花园,3栋,1202,2026-01,物业管理费,300.00,2026-01-31\n")
NOT_SET_UP = "error: the database is not set up yet; run: flask --app wsgi arrears init-db\n"


@pytest.fixture(autouse=True)
def today():
    with time_machine.travel(datetime(2026, 11, 23, 12, 0, tzinfo=ZoneInfo("Asia/Shanghai")), tick=True):
        yield date(2026, 11, 23)


def count(table):
    value = db.session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
    db.session.rollback()
    return value


def on_postgresql():
    return bool(os.environ.get("TEST_DATABASE_URL"))


@pytest.fixture
def imported(cli, write_csv):
    for kind, content in (("units", UNITS_CSV), ("charges", CHARGES_CSV)):
        result = cli("import", kind, write_csv(f"{kind}.csv", content))
        assert result.exit_code == 0, result.output


# -- create-user -------------------------------------------------------------------------

def test_create_user_reads_the_password_from_stdin(cli):
    result = cli("create-user", "wangfang", "--role", "clerk", input="password123\n")
    assert result.exit_code == 0, result.output
    assert result.stdout == "user wangfang (clerk) created\n"
    user = db.session.execute(select(User).where(User.username == "wangfang")).scalar_one()
    assert (user.role, user.active) == ("clerk", True)
    assert "password123" not in user.password_hash
    assert user.password_hash.startswith("$argon2id$")
    assert check_password(user, "password123")
    assert not check_password(user, "password124")
    event = db.session.execute(text("SELECT kind, data FROM evidence_events")).one()
    assert event.kind == "user_created" and "password" not in event.data


def test_create_user_keeps_spaces_inside_the_password(cli):
    assert cli("create-user", "li.qiang", "--role", "manager", input="correct horse battery\r\n").exit_code == 0
    user = db.session.execute(select(User)).scalar_one()
    assert check_password(user, "correct horse battery")


@pytest.mark.parametrize("password", ["short\n", "1234567\n", "\n", ""], ids=["5", "7", "empty-line", "no-input"])
def test_create_user_refuses_a_short_password(cli, password):
    result = cli("create-user", "wangfang", "--role", "clerk", input=password)
    assert result.exit_code == 1
    assert result.stderr == "error: the password must have at least 8 characters\n"
    assert count("users") == 0 and count("evidence_events") == 0


def test_create_user_refuses_an_unknown_role(cli):
    result = cli("create-user", "wangfang", "--role", "boss", input="password123\n")
    assert result.exit_code == 2
    assert "Invalid value for '--role': 'boss' is not one of 'clerk', 'manager', 'lawyer', 'admin'." in result.stderr
    assert count("users") == 0


def test_create_user_refuses_a_duplicate_name(cli):
    assert cli("create-user", "wangfang", "--role", "clerk", input="password123\n").exit_code == 0
    result = cli("create-user", "wangfang", "--role", "manager", input="another-password\n")
    assert result.exit_code == 1
    assert result.stderr == "error: user wangfang already exists\n"
    user = db.session.execute(select(User)).scalar_one()
    assert user.role == "clerk" and check_password(user, "password123")
    assert count("evidence_events") == 1


@pytest.mark.parametrize("name", ["a", "has space", "x/y", "x" * 51])
def test_create_user_refuses_a_bad_name(cli, name):
    result = cli("create-user", name, "--role", "clerk", input="password123\n")
    assert result.exit_code == 1
    assert result.stderr == f"error: user name {name!r} must be 2–50 letters, digits or . _ @ -\n"
    assert count("users") == 0


# -- backup ------------------------------------------------------------------------------

@pytest.mark.skipif(on_postgresql(), reason="the SQLite backup; PostgreSQL is backed up with pg_dump")
def test_sqlite_backup_is_a_valid_copy(cli, imported, tmp_path, app):
    # A fee item named by a charges import takes no part in billing runs until activated.
    assert cli("bill", "--period", "2026-10").stdout == (
        "billed 2026-10: nothing to create (already billed, or no active fee items)\n")
    charges = count("charges")
    assert charges == 3
    target = tmp_path / "backup.sqlite3"
    result = cli("backup", target)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"backup written to {target} ({target.stat().st_size} bytes)"
    assert lines[1] == f"keep {os.path.join(app.config['ARREARS_DATA_DIR'], 'keys')} too: encrypted fields need its key"
    with sqlite3.connect(target) as copy:
        assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert copy.execute("SELECT count(*) FROM charges").fetchone() == (charges,)
        assert copy.execute("SELECT count(*) FROM evidence_events").fetchone() == (count("evidence_events"),)
        # the append-only triggers travel with the copy
        triggers = {name for (name,) in copy.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
        assert {"charges_no_update", "charges_no_delete", "evidence_events_no_update"} <= triggers
    copy.close()


def test_backup_refuses_to_overwrite_an_existing_file(cli, imported, tmp_path):
    target = tmp_path / "backup.db"
    target.write_bytes(b"precious")
    result = cli("backup", target)
    assert result.exit_code == 1
    assert result.stderr == f"error: {target} already exists; choose a new file name\n"
    assert target.read_bytes() == b"precious"


def test_backup_into_a_missing_folder_is_a_clear_error(runner, imported, tmp_path):
    target = tmp_path / "no-such-folder" / "backup.db"
    result = runner.invoke(arrears, ["backup", str(target)])  # exceptions caught: a traceback shows here
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and str(target) in result.stderr
    assert not target.parent.exists()


@pytest.mark.skipif(not on_postgresql(), reason="PostgreSQL only")
def test_postgresql_backup_runs_pg_dump_or_says_how(cli, imported, tmp_path):
    target = tmp_path / "backup.dump"
    result = cli("backup", target)
    if shutil.which("pg_dump") is None:
        assert result.exit_code == 1
        assert result.stderr.startswith("error: this database is PostgreSQL: back it up with\n"
                                        f"  pg_dump --format=custom --file {target} 'postgresql://")
    else:
        assert result.exit_code == 0, result.output
        assert result.stdout == f"backup written to {target} with pg_dump (restore with pg_restore)\n"
        assert target.read_bytes()[:5] == b"PGDMP"  # pg_dump's custom format


# -- export-events -----------------------------------------------------------------------

def test_export_events_into_a_missing_folder_is_a_clear_error(runner, imported, tmp_path):
    target = tmp_path / "no-such-folder" / "events.jsonl"
    result = runner.invoke(arrears, ["export-events", "-o", str(target)])  # exceptions caught
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and "no-such-folder" in result.stderr


# -- init-db -----------------------------------------------------------------------------

def test_init_db_twice_is_harmless(cli, imported):
    events = cli("verify-chain").stdout
    before = {table: count(table) for table in ("units", "charges", "evidence_events")}
    for _ in range(2):
        result = cli("init-db")
        assert result.exit_code == 0, result.output
        assert result.stdout.startswith("database ready: ")
        assert "Traceback" not in result.output
    assert {table: count(table) for table in before} == before
    assert cli("verify-chain").stdout == events
    assert cli("statement", "示例花园/3栋/1201", "--as-of", "2026-03-31").exit_code == 0


# -- import kinds ------------------------------------------------------------------------

def test_import_deliveries_of_an_unknown_serial_imports_nothing(cli, write_csv):
    path = write_csv("deliveries.csv", "serial,method,outcome,date,signer,relation,tracking_no\n"
                     "SL-2026-000123,hand_signed,delivered,2026-04-12,张三,owner,\n")
    result = cli("import", "deliveries", path)
    assert result.exit_code == 1
    assert "line 2: serial SL-2026-000123 is not an issued notice" in result.stderr
    assert count("evidence_events") == 0


def test_an_unknown_import_kind_is_a_usage_error(cli, write_csv):
    path = write_csv("owners.csv", UNITS_CSV)
    result = cli("import", "owners", path)
    assert result.exit_code == 2
    assert ("Invalid value for '{units|charges|payments|hardship|waivers|deliveries}': 'owners' is not one of "
            "'units', 'charges', 'payments', 'hardship', 'waivers', 'deliveries'.") in result.stderr
    assert count("evidence_events") == 0


def test_importing_a_file_that_does_not_exist(cli, tmp_path):
    path = tmp_path / "missing.csv"
    result = cli("import", "units", path)
    assert result.exit_code == 1
    assert result.stderr == f"error: {path}: no such file\n"


# -- a database that was never set up ----------------------------------------------------

@pytest.fixture
def empty_app(tmp_path):
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite:///" + str(tmp_path / "empty.sqlite3"),
                      "ARREARS_DATA_DIR": str(tmp_path), "TESTING": True})
    yield app
    with app.app_context():
        db.engine.dispose()


def run(app, *args, input=None):
    return app.test_cli_runner().invoke(arrears, [str(a) for a in args], input=input, catch_exceptions=False)


@pytest.mark.parametrize("args, input", [
    (("statement", "示例花园/3栋/1201", "--as-of", "2026-05-31"), None),
    (("statement", "示例花园/3栋/1201", "--as-of", "2026-05-31", "--json"), None),
    (("bill", "--period", "2026-10"), None),
    (("pay", "示例花园/3栋/1201", "--amount", "1.00", "--paid-on", "2026-11-01", "--method", "cash",
      "--reference", "R1"), None),
    (("reverse-payment", "1", "--reason", "x"), None),
    (("verify-chain",), None),
    (("report", "--as-of", "2026-05-31"), None),
    (("check-balances", "--as-of", "2026-05-31"), None),
    (("create-user", "wangfang", "--role", "clerk"), "password123\n"),
], ids=lambda value: value[0] if isinstance(value, tuple) else "")
def test_commands_on_an_uninitialised_database_say_run_init_db(empty_app, args, input):
    result = run(empty_app, *args, input=input)
    assert result.exit_code == 1
    assert result.stderr == NOT_SET_UP
    assert result.stdout == ""


def test_import_on_an_uninitialised_database_says_run_init_db(empty_app, write_csv):
    result = run(empty_app, "import", "units", write_csv("units.csv", UNITS_CSV))
    assert result.exit_code == 1
    assert result.stderr == NOT_SET_UP


def test_export_events_on_an_uninitialised_database_leaves_no_file(empty_app, tmp_path):
    target = tmp_path / "events.jsonl"
    result = run(empty_app, "export-events", "-o", target)
    assert result.exit_code == 1
    assert result.stderr == NOT_SET_UP
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("events")) == []


def test_init_db_then_the_commands_work(empty_app):
    result = run(empty_app, "init-db")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("database ready: sqlite:///")
    result = run(empty_app, "statement", "示例花园/3栋/1201", "--as-of", "2026-05-31")
    assert result.exit_code == 1
    assert result.stderr == "error: unit 示例花园/3栋/1201 does not exist\n"
    assert run(empty_app, "verify-chain").stdout == (f"evidence chain intact: 0 event(s); head 0 {'0' * 16}\n"
                                                           "records agree with their events\n")
