"""Users and passwords (argon2id)."""
import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select

from ..extensions import db
from ..models import ROLES, User
from .errors import ServiceError
from .evidence import append_event
from .transaction import atomic

_hasher = PasswordHasher()
USERNAME = re.compile(r"^[\w.@-]{2,50}$")
MIN_PASSWORD = 8


def create_user(username, role, password, actor="cli"):
    """Make a user. Raises ``ServiceError`` for a bad name, role or short password."""
    username = (username or "").strip()
    if not USERNAME.match(username):
        raise ServiceError("user name %(name)s must be 2–50 letters, digits or . _ @ -", name=repr(username))
    if role not in ROLES:
        raise ServiceError("role %(role)s must be one of %(allowed)s", role=repr(role), allowed=", ".join(ROLES))
    if len(password or "") < MIN_PASSWORD:
        raise ServiceError("the password must have at least %(count)s characters", count=MIN_PASSWORD)
    with atomic():
        if name_taken(username):
            raise ServiceError("user %(name)s already exists", name=username)
        user = User(username=username, role=role, password_hash=hash_password(password), active=True)
        db.session.add(user)
        db.session.flush()
        append_event("user_created", actor, None, {"username": username, "role": role})
        return user


def name_taken(username):
    """True when a user has this name, letter case aside ("Clerk" and "clerk" are easily
    confused, and logins are exact)."""
    return db.session.execute(select(User.id).where(func.lower(User.username) == username.lower())).first() is not None


def hash_password(password):
    """An argon2id hash of ``password``."""
    return _hasher.hash(password)


def check_password(user, password):
    try:
        return _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
