"""Logging in and out: rate limits, server-side sessions, evidence.

Invariants: a login starts a new session token and logout revokes it, so a cookie
copied before logout is useless after; after ``LOGIN_MAX_FAILURES`` failures for one
name or one address within the window, further attempts are refused (and the lock is
an evidence event) until the window has passed.
"""
import secrets
from datetime import datetime, timedelta, timezone

from flask import current_app
from sqlalchemy import func, or_, select

from ..extensions import db
from ..models import LoginAttempt, LoginSession, User
from .errors import ServiceError
from .evidence import append_event
from .transaction import atomic
from .users import check_password


class LoginLocked(ServiceError):
    """Too many failed logins: HTTP 429."""


class LoginFailed(ServiceError):
    pass


def _failures(username, remote_addr, now):
    since = now - timedelta(minutes=current_app.config["LOGIN_WINDOW_MINUTES"])
    return db.session.execute(select(func.count(LoginAttempt.id)).where(
        LoginAttempt.at >= since, LoginAttempt.succeeded.is_(False),
        or_(LoginAttempt.username == username, LoginAttempt.remote_addr == remote_addr))).scalar_one()


def log_in(username, password, remote_addr):
    """The user and a new session token. Raises ``LoginLocked`` or ``LoginFailed``
    (the same message whether the name or the password was wrong)."""
    username = (username or "").strip()[:100]
    now = datetime.now(timezone.utc)
    limit = current_app.config["LOGIN_MAX_FAILURES"]
    with atomic():
        failures = _failures(username, remote_addr, now)
        if failures >= limit:
            if failures == limit:
                append_event("login_locked", username or "?", None,
                             {"username": username, "remote_addr": remote_addr, "failures": failures})
            db.session.add(LoginAttempt(username=username, remote_addr=remote_addr, at=now, succeeded=False))
            db.session.commit()
            raise LoginLocked("too many failed logins; try again later")
        user = db.session.execute(select(User).where(User.username == username)).scalar_one_or_none()
        ok = user is not None and user.active and check_password(user, password or "")
        db.session.add(LoginAttempt(username=username, remote_addr=remote_addr, at=now, succeeded=ok))
        if not ok:
            # Committed: a failure counts even though the login is refused.
            db.session.commit()
            raise LoginFailed("wrong user name or password")
        token = secrets.token_hex(32)
        db.session.add(LoginSession(token=token, user_id=user.id, created_at=now))
        append_event("login", user.username, None, {"remote_addr": remote_addr})
        return user, token


def session_user(token):
    """The user of a live session token, or None."""
    if not token:
        return None
    row = db.session.get(LoginSession, token)
    if row is None or row.revoked_at is not None or not row.user.active:
        return None
    return row.user


def log_out(token):
    with atomic():
        row = db.session.get(LoginSession, token) if token else None
        if row is not None and row.revoked_at is None:
            row.revoked_at = datetime.now(timezone.utc)
