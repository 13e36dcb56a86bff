"""Raw SQL around the application: lift a table's append-only triggers for a moment, as
someone with the database file would, then put them back (the SQL of
migrations/append_only.py)."""
from contextlib import contextmanager

from sqlalchemy import text

from arrears.extensions import db


def is_postgresql():
    return db.engine.dialect.name == "postgresql"


def guard(table, on):
    """Lift or restore a table's append-only triggers."""
    if is_postgresql():
        db.session.execute(text(f"ALTER TABLE {table} {'ENABLE' if on else 'DISABLE'} TRIGGER {table}_append_only"))
        return
    for action in ("UPDATE", "DELETE"):
        if on:
            db.session.execute(text(
                f"CREATE TRIGGER IF NOT EXISTS {table}_no_{action.lower()} BEFORE {action} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, 'append-only table {table}: {action} refused'); END"))
        else:
            db.session.execute(text(f"DROP TRIGGER {table}_no_{action.lower()}"))


@contextmanager
def around(table):
    """The guard lifted; what the block does is committed; the guard is back afterwards."""
    db.session.rollback()
    guard(table, False)
    db.session.commit()
    try:
        yield db.session
        db.session.commit()
    finally:
        db.session.rollback()
        guard(table, True)
        db.session.commit()


def sql(table, statement, **values):
    with around(table) as session:
        session.execute(text(statement), values)
