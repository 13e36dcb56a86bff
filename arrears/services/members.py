"""The register of household members (SPEC §5): besides the owner, the only people staff
may contact about a household's arrears.

Invariants: a member is added or removed by an act with its evidence event (the event
names the member and the relation, never the phone number); a removed member stays on
record with who removed them and when, and no longer counts for the contact policy.
"""
from datetime import datetime, timezone

from sqlalchemy import select, update

from ..extensions import db
from ..models import MEMBER_RELATIONS, HouseholdMember
from .errors import NotFound, ServiceError
from .evidence import append_event
from .transaction import atomic


def active_members(unit_id):
    return db.session.execute(select(HouseholdMember).where(HouseholdMember.unit_id == unit_id,
                                                            HouseholdMember.removed_at.is_(None))
                              .order_by(HouseholdMember.id)).scalars().all()


def active_member(unit, member_id):
    """The member ``member_id`` registered for ``unit`` and not removed, or None."""
    member = db.session.get(HouseholdMember, member_id)
    if member is None or member.unit_id != unit.id or member.removed_at is not None:
        return None
    return member


def add_member(unit, name, relation, phone, actor):
    """Register a household member; raises ``ServiceError`` for a bad name, relation or phone."""
    name = " ".join((name or "").split())
    phone = "".join((phone or "").split())
    if not name or len(name) > 100:
        raise ServiceError("a household member needs a name of at most 100 characters")
    if relation not in MEMBER_RELATIONS:
        raise ServiceError("relation %(relation)s must be one of %(allowed)s", relation=repr(relation),
                           allowed=", ".join(MEMBER_RELATIONS))
    if phone and not (phone.lstrip("+").replace("-", "").isdigit() and 6 <= len(phone) <= 20):
        raise ServiceError("%(phone)s is not a phone number", phone=repr(phone))
    with atomic():
        member = HouseholdMember(unit_id=unit.id, name=name, relation=relation, phone=phone or None, added_by=actor)
        db.session.add(member)
        db.session.flush()
        append_event("household_member_added", actor, unit.ref, {"member_id": member.id, "name": name,
                                                                 "relation": relation})
        return member


def remove_member(unit, member_id, actor):
    with atomic():
        member = active_member(unit, member_id)
        if member is None:
            raise NotFound("household member #%(id)s of %(unit)s does not exist or was removed", id=member_id,
                           unit=unit.ref)
        db.session.execute(update(HouseholdMember).where(HouseholdMember.id == member.id)
                           .values(removed_at=datetime.now(timezone.utc), removed_by=actor))
        append_event("household_member_removed", actor, unit.ref, {"member_id": member.id, "name": member.name,
                                                                   "relation": member.relation})
        return member
