"""Administration acts: users, estates, fee items and late-fee policy versions.

Invariants:
- there is always at least one active administrator: nobody deactivates themselves,
  and neither deactivation nor a change of role removes the last active admin;
- a deactivated user, or one whose password was reset by someone else, has no live
  session left (their cookies stop working at once);
- a late-fee policy is never rewritten: a change is a new version taking effect today
  (local date) or later, at most one per estate and day, and the days before it keep
  the fee they were charged;
- fee items are master data: only their ``active`` flag changes, so what has been
  billed keeps its basis and price;
- an estate's office profile (letterhead and ways to pay, printed on notices and
  receipts) is a normal mutable record, but every change of it appends an
  ``estate_profile_changed`` event with each changed field's old and new value, so that
  a changed bank account can always be traced;
- every act runs in one transaction with its evidence event (never a password).

Each refusal is a named ``ServiceError`` whose message is fit to show as it is; the web
layer turns them into translated messages next to the field they concern.
"""
from datetime import date, datetime, timezone

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from ..domain.money import format_fen
from ..domain.policy import LateFeePolicy
from ..extensions import db
from ..models import FEE_BASES, ROLES, Estate, FeeItem, LateFeePolicyVersion, LoginSession, User
from .errors import N_, NotFound, ServiceError
from .evidence import append_event
from .property import add_policy_version, get_or_create_estate, get_or_create_fee_item
from .transaction import atomic
from .users import MIN_PASSWORD, hash_password

ESTATE_NAME_MAX = 100
FEE_ITEM_NAME_MAX = 100
# The office profile's fields and their longest length (the columns' sizes).
PROFILE_FIELDS = {"office_name": 100, "office_address": 200, "office_phone": 50, "office_hours": 100,
                  "bank_name": 100, "bank_account_name": 100, "bank_account_no": 50, "wechat_payee": 100,
                  "alipay_payee": 100, "relief_contact": 200}


class SelfDeactivation(ServiceError):
    """A user tried to deactivate their own account."""


class LastActiveAdmin(ServiceError):
    """The act would leave no active administrator."""

    def __init__(self, username):
        super().__init__(N_("%(username)s is the last active administrator"), username=username)
        self.username = username


class DuplicateEstate(ServiceError):
    pass


class DuplicateFeeItem(ServiceError):
    pass


class InvalidProfile(ServiceError):
    """A profile field is too long or holds a line break; ``field`` names it, ``limit`` its length."""

    def __init__(self, field, limit):
        super().__init__(N_("%(field)s must be one line of at most %(limit)s characters"), field=field, limit=limit)
        self.field = field
        self.limit = limit


class PolicyInPast(ServiceError):
    """A policy version dated before today would change days already charged."""

    def __init__(self, effective_from, today):
        super().__init__(N_("effective date %(day)s is before today (%(today)s): "
                            "a new policy may not change days already charged"), day=effective_from, today=today)
        self.effective_from = effective_from
        self.today = today


class PolicyDateTaken(ServiceError):
    """The estate already has a version taking effect that day."""

    def __init__(self, effective_from):
        super().__init__(N_("a late-fee policy version already takes effect on %(day)s"), day=effective_from)
        self.effective_from = effective_from


# -- users ---------------------------------------------------------------------------

def get_user(user_id):
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound("user #%(id)s does not exist", id=user_id)
    return user


def _other_active_admins(user):
    """Active admins other than ``user``, locked (PostgreSQL) so that two admins removing
    each other at the same moment cannot both succeed."""
    return db.session.execute(select(User.id).where(User.role == "admin", User.active.is_(True),
                                                    User.id != user.id).with_for_update()).scalars().all()


def _revoke_sessions(user):
    db.session.execute(update(LoginSession).where(LoginSession.user_id == user.id,
                                                  LoginSession.revoked_at.is_(None))
                       .values(revoked_at=datetime.now(timezone.utc)))


def deactivate_user(user_id, actor):
    """Deactivate a user and end their sessions. Raises ``SelfDeactivation`` when
    ``actor`` names that user, ``LastActiveAdmin`` for the last active admin."""
    with atomic():
        user = get_user(user_id)
        if user.username == actor:
            raise SelfDeactivation("you cannot deactivate yourself")
        if not user.active:
            return user
        if user.role == "admin" and not _other_active_admins(user):
            raise LastActiveAdmin(user.username)
        user.active = False
        _revoke_sessions(user)
        append_event("user_deactivated", actor, None, {"username": user.username, "role": user.role})
        return user


def reactivate_user(user_id, actor):
    """Let a deactivated user log in again (with their existing password)."""
    with atomic():
        user = get_user(user_id)
        if user.active:
            return user
        user.active = True
        append_event("user_reactivated", actor, None, {"username": user.username, "role": user.role})
        return user


def reset_password(user_id, password, actor):
    """Set a new password (argon2id). Someone else's sessions end, so a stolen session
    does not outlive the reset. Raises ``ServiceError`` for a short password."""
    if len(password or "") < MIN_PASSWORD:
        raise ServiceError("the password must have at least %(count)s characters", count=MIN_PASSWORD)
    with atomic():
        user = get_user(user_id)
        user.password_hash = hash_password(password)
        if user.username != actor:
            _revoke_sessions(user)
        append_event("password_reset", actor, None, {"username": user.username})
        return user


def change_role(user_id, role, actor):
    """Give a user another role. Raises ``ServiceError`` for an unknown role and
    ``LastActiveAdmin`` when it would take the role from the last active admin."""
    if role not in ROLES:
        raise ServiceError("role %(role)s must be one of %(allowed)s", role=repr(role), allowed=", ".join(ROLES))
    with atomic():
        user = get_user(user_id)
        if user.role == role:
            return user
        if user.role == "admin" and user.active and not _other_active_admins(user):
            raise LastActiveAdmin(user.username)
        previous, user.role = user.role, role
        append_event("role_changed", actor, None, {"username": user.username, "from": previous, "to": role})
        return user


# -- estates and fee items -------------------------------------------------------------

def get_estate(estate_id):
    estate = db.session.get(Estate, estate_id)
    if estate is None:
        raise NotFound("estate #%(id)s does not exist", id=estate_id)
    return estate


def check_estate_name(name):
    """The cleaned name; raises ``ServiceError`` when it cannot name an estate."""
    name = (name or "").strip()
    if not name:
        raise ServiceError("the estate's name is empty")
    if len(name) > ESTATE_NAME_MAX:
        raise ServiceError("the estate's name is longer than %(count)s characters", count=ESTATE_NAME_MAX)
    if "/" in name:
        raise ServiceError("the estate's name may not contain '/': it separates the parts of a unit reference")
    return name


def create_estate(name, actor):
    """A new estate with the default late-fee policy (effective 1970-01-01).
    Raises ``DuplicateEstate`` when the name is taken."""
    name = check_estate_name(name)
    try:
        with atomic():
            if db.session.execute(select(Estate.id).where(Estate.name == name)).first():
                raise DuplicateEstate("estate %(name)s already exists", name=name)
            return get_or_create_estate(name, actor)
    except IntegrityError:  # made by someone else between the check and the insert
        raise DuplicateEstate("estate %(name)s already exists", name=name) from None


def add_fee_item(estate_id, name, basis, price_fen, due_day, actor):
    """A new, active fee item: ``price_fen`` per m² per month (``per_m2``) or per unit
    per month (``fixed``), due on ``due_day`` of the period's month (None: the month's
    last day). Raises ``DuplicateFeeItem`` or ``ServiceError``."""
    name = (name or "").strip()
    if not name or len(name) > FEE_ITEM_NAME_MAX:
        raise ServiceError("a fee item's name must have 1–%(count)s characters", count=FEE_ITEM_NAME_MAX)
    if basis not in FEE_BASES:
        raise ServiceError("basis %(basis)s must be one of %(allowed)s", basis=repr(basis),
                           allowed=", ".join(FEE_BASES))
    if not isinstance(price_fen, int) or price_fen <= 0:
        raise ServiceError("the price must be greater than 0.00")
    if due_day is not None and not 1 <= due_day <= 31:
        raise ServiceError("due day %(day)s must be 1–31 or empty (the month's last day)", day=due_day)
    try:
        with atomic():
            estate = get_estate(estate_id)
            if db.session.execute(select(FeeItem.id).where(FeeItem.estate_id == estate.id,
                                                           FeeItem.name == name)).first():
                raise DuplicateFeeItem("estate #%(id)s already has a fee item named %(name)s", id=estate_id, name=name)
            return get_or_create_fee_item(estate, name, actor, basis=basis, price_fen=price_fen,
                                          due_day=due_day, active=True)
    except IntegrityError:  # a double submit: the other request made it first
        raise DuplicateFeeItem("estate #%(id)s already has a fee item named %(name)s", id=estate_id,
                               name=name) from None


def get_fee_item(estate_id, item_id):
    item = db.session.get(FeeItem, item_id)
    if item is None or item.estate_id != estate_id:
        raise NotFound("fee item #%(id)s does not exist in estate #%(estate)s", id=item_id, estate=estate_id)
    return item


def set_fee_item_active(estate_id, item_id, active, actor):
    """Switch a fee item on (billing runs charge it) or off (they skip it); nothing
    billed changes."""
    with atomic():
        item = get_fee_item(estate_id, item_id)
        if item.active == bool(active):
            return item
        item.active = bool(active)
        append_event("fee_item_activated" if active else "fee_item_deactivated", actor, None,
                     {"estate": item.estate.name, "fee_item": item.name, "basis": item.basis,
                      "price": format_fen(item.price_fen), "due_day": item.due_day})
        return item


def clean_profile(values):
    """``{field: text or None}`` for the profile fields ``values`` gives: stripped, empty
    as None. Raises ``InvalidProfile`` for an unknown field, a line break or a text
    longer than the column."""
    cleaned = {}
    for name, value in values.items():
        if name not in PROFILE_FIELDS:
            raise InvalidProfile(name, 0)
        text = (value or "").strip()
        if len(text) > PROFILE_FIELDS[name] or any(ch in text for ch in "\r\n"):
            raise InvalidProfile(name, PROFILE_FIELDS[name])
        cleaned[name] = text or None
    return cleaned


def update_estate_profile(estate_id, values, actor):
    """Set the estate's office profile from ``values`` (``{field: text}``; fields left out
    stay as they are; empty text clears a field). Returns the names of the fields that
    changed, in ``PROFILE_FIELDS`` order; when none did, nothing is written. Raises
    ``InvalidProfile`` (see ``clean_profile``) or ``NotFound``."""
    cleaned = clean_profile(values)
    with atomic():
        estate = get_estate(estate_id)
        changed = {name: {"from": getattr(estate, name), "to": value} for name, value in cleaned.items()
                   if getattr(estate, name) != value}
        if not changed:
            return []
        for name, change in changed.items():
            setattr(estate, name, change["to"])
        append_event("estate_profile_changed", actor, None, {"estate": estate.name, "changed": changed})
        return [name for name in PROFILE_FIELDS if name in changed]


# -- late-fee policy versions ------------------------------------------------------------

def policy_versions(estate_id):
    """The estate's versions, oldest first."""
    return db.session.execute(select(LateFeePolicyVersion).where(LateFeePolicyVersion.estate_id == estate_id)
                              .order_by(LateFeePolicyVersion.effective_from)).scalars().all()


def version_in_force(versions, day):
    """The version that governs ``day`` (the earliest also governs days before it)."""
    current = versions[0] if versions else None
    for version in versions:
        if version.effective_from <= day:
            current = version
    return current


def add_late_fee_policy(estate_id, effective_from: date, daily_rate, grace_days, cap_ratio, allocation,
                        actor, today: date):
    """Add a policy version (``daily_rate``: ``Decimal`` fraction per day; ``cap_ratio``:
    ``Decimal`` multiple of the charge, or None) and rebuild the estate's projection.

    Raises ``PolicyInPast`` when ``effective_from`` is before ``today`` (the estate's
    local date), ``PolicyDateTaken`` when a version already starts that day and
    ``InvalidPolicy`` for a setting out of range."""
    policy = LateFeePolicy(effective_from=effective_from, daily_rate=daily_rate, grace_days=grace_days,
                           cap_ratio=cap_ratio, allocation=allocation)
    if effective_from < today:
        raise PolicyInPast(effective_from, today)
    try:
        with atomic():
            estate = get_estate(estate_id)
            taken = db.session.execute(select(func.count(LateFeePolicyVersion.id)).where(
                LateFeePolicyVersion.estate_id == estate.id,
                LateFeePolicyVersion.effective_from == effective_from)).scalar_one()
            if taken:
                raise PolicyDateTaken(effective_from)
            return add_policy_version(estate, policy, actor)
    except IntegrityError:  # a double submit: the other request recorded it first
        raise PolicyDateTaken(effective_from) from None
