"""Fixtures: ``app``, ``client``, ``runner`` and a ``cli`` helper.

The database is SQLite unless ``TEST_DATABASE_URL`` names another (``make test`` runs
the suite on SQLite and then on PostgreSQL). The schema is built once per session by
the real migrations; each test starts from it empty: a copy of the migrated SQLite
file, or a PostgreSQL schema emptied with TRUNCATE (which the append-only triggers,
being row triggers on UPDATE and DELETE, do not see).
"""
import os
import shutil

import pytest
from sqlalchemy import create_engine, text

from arrears import create_app
from arrears.extensions import db
from config import database_url

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")
SHARED_EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "examples")


def _migrate(url, data_dir):
    from flask_migrate import upgrade
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "ARREARS_DATA_DIR": data_dir, "TESTING": True})
    with app.app_context():
        upgrade()
        db.engine.dispose()


@pytest.fixture(scope="session")
def migrated_database(tmp_path_factory):
    """The URL of a migrated, empty database (for SQLite: the template file's path)."""
    data_dir = str(tmp_path_factory.mktemp("migrate-data"))
    if TEST_DATABASE_URL:
        url = database_url(TEST_DATABASE_URL)
        engine = create_engine(url)
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        engine.dispose()
        _migrate(url, data_dir)
        return url
    template = tmp_path_factory.mktemp("template") / "template.sqlite3"
    _migrate(f"sqlite:///{template}", data_dir)
    return str(template)


@pytest.fixture
def database_url_for_test(migrated_database, tmp_path):
    if TEST_DATABASE_URL:
        engine = create_engine(migrated_database)
        with engine.begin() as connection:
            tables = connection.execute(text(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
            )).scalars().all()
            connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        engine.dispose()
        return migrated_database
    path = tmp_path / "arrears.sqlite3"
    shutil.copyfile(migrated_database, path)
    return f"sqlite:///{path}"


@pytest.fixture
def app(database_url_for_test, tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    app = create_app({
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": database_url_for_test,
        "ARREARS_DATA_DIR": str(data_dir),
        "SECRET_KEY": "test",
    })
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def cli(runner):
    """``cli("statement", ref, "--json")`` runs ``flask arrears …`` and returns the result."""
    def invoke(*args, input=None):
        from arrears.cli import arrears
        return runner.invoke(arrears, [str(a) for a in args], input=input, catch_exceptions=False)
    return invoke


@pytest.fixture
def examples_dir():
    return os.path.normpath(os.path.join(SHARED_EXAMPLES, "ledger"))


@pytest.fixture
def write_csv(tmp_path):
    """``write_csv("name.csv", "header\\nrow")`` -> path of a UTF-8 file."""
    def write(name, content, encoding="utf-8"):
        path = tmp_path / name
        path.write_bytes(content.encode(encoding) if isinstance(content, str) else content)
        return str(path)
    return write
