"""Fixtures: ``app``, ``client``, ``runner`` and a ``cli`` helper.

The database is SQLite unless ``TEST_DATABASE_URL`` names another (``make test`` runs
the suite on SQLite and then on PostgreSQL). The schema is built once per session by
the real migrations; each test starts from it empty: a copy of the migrated SQLite
file, or a PostgreSQL schema emptied with TRUNCATE (which the append-only triggers,
being row triggers on UPDATE and DELETE, do not see).
"""
import os
import re
import shutil

import pytest
from flask.testing import FlaskClient
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


@pytest.fixture(scope="session", autouse=True)
def chinese_catalog():
    """Compile the Chinese catalog from the sources and tables, as make run does."""
    from arrears.translations.build import build
    build()


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
        "SESSION_COOKIE_SECURE": False,
    })
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


class FreshContextClient(FlaskClient):
    """Each request runs in its own app context, as in production: ``g`` (where Flask-WTF
    caches the CSRF token) and the database session do not leak from the test's context."""

    def open(self, *args, **kwargs):
        with self.application.app_context():
            return super().open(*args, **kwargs)


@pytest.fixture
def client(app):
    app.test_client_class = FreshContextClient
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


CSRF_FIELD = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


def csrf_from(html):
    """The CSRF token of the first form on a page (tests keep CSRF on, as a browser does)."""
    match = CSRF_FIELD.search(html)
    assert match, "no csrf_token field on the page"
    return match.group(1) or match.group(2)


@pytest.fixture
def make_user(app):
    """``make_user("clerk")`` -> a user named after the role, password ``password123``."""
    from arrears.services.users import create_user

    def make(role, name=None):
        return create_user(name or role, role, "password123")
    return make


@pytest.fixture
def login(client, make_user):
    """``login("clerk")`` makes that user if needed and logs the test client in."""
    from arrears.models import User

    def log_in(role, name=None):
        name = name or role
        if User.query.filter_by(username=name).first() is None:
            make_user(role, name)
        page = client.get("/login")
        response = client.post("/login", data={"username": name, "password": "password123",
                                               "csrf_token": csrf_from(page.get_data(as_text=True))})
        assert response.status_code == 302, response.get_data(as_text=True)
        return response
    return log_in


@pytest.fixture
def post_form(client):
    """``post_form(page_url, action_url, data)``: read the CSRF token from the page, then post."""
    def post(page_url, action_url, data, **kwargs):
        page = client.get(page_url)
        payload = dict(data)
        payload["csrf_token"] = csrf_from(page.get_data(as_text=True))
        return client.post(action_url, data=payload, **kwargs)
    return post
