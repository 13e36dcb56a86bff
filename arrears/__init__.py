"""Arrears: unpaid management fees, late fees, notices and evidence for a property office."""
import os

from flask import Flask


def create_app(test_config=None):
    """Build the application. ``test_config`` overrides settings (tests use it)."""
    app = Flask(__name__, instance_relative_config=True,
                template_folder=os.path.join(os.path.dirname(os.path.dirname(__file__)), "templates"))
    app.config.from_object("config.Config")
    if test_config:
        app.config.update(test_config)
    os.makedirs(app.instance_path, exist_ok=True)
    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite:///" + os.path.join(app.instance_path, "arrears.sqlite3")
    if not app.config.get("ARREARS_DATA_DIR"):
        app.config["ARREARS_DATA_DIR"] = app.instance_path

    from . import models  # noqa: F401  (registers the tables)
    from .services import cases, notices, relief  # noqa: F401  (limitation interruptions: notices, plans, filings)
    from .cli import init_app as init_cli
    from .extensions import db, install_sqlite_pragmas, migrate
    from .web import init_app as init_web

    db.init_app(app)
    with app.app_context():
        install_sqlite_pragmas(db.engine)
    migrate.init_app(app, db, directory=os.path.join(os.path.dirname(os.path.dirname(__file__)), "migrations"))
    init_cli(app)
    init_web(app)
    return app
