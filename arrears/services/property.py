"""Estates, buildings, units, owners and late-fee policies.

Invariant: every estate has at least one late-fee policy version (the configured
defaults, effective from 1970-01-01, made with the estate); a new version never
changes a day before its effective date; each act appends an evidence event.
"""
from datetime import date, timedelta

from sqlalchemy import select, update

from ..domain.money import format_fen
from ..domain.policy import LateFeePolicy
from ..extensions import db
from ..models import (Building, ChargeBalance, Estate, FeeItem, LateFeePolicyVersion, Owner, Ownership, Unit,
                      UnitBalance)
from .errors import ServiceError
from .evidence import append_event
from .ledger import default_policy, local_today, refresh_unit_balances

EPOCH = date(1970, 1, 1)


def get_or_create_estate(name, actor):
    estate = db.session.execute(select(Estate).where(Estate.name == name)).scalar_one_or_none()
    if estate is None:
        estate = Estate(name=name)
        db.session.add(estate)
        db.session.flush()
        append_event("estate_created", actor, None, {"estate": name})
        add_policy_version(estate, default_policy(EPOCH), actor)
    return estate


def get_or_create_building(estate, name, actor):
    building = db.session.execute(select(Building).where(Building.estate_id == estate.id,
                                                         Building.name == name)).scalar_one_or_none()
    if building is None:
        building = Building(estate=estate, name=name)
        db.session.add(building)
        db.session.flush()
        append_event("building_created", actor, None, {"estate": estate.name, "building": name})
    return building


def add_unit(building, number, area_centi_m2, owner_name, owner_phone, actor, owned_from=EPOCH):
    """A new unit with its first owner. Raises ``ServiceError`` if it exists."""
    exists = db.session.execute(select(Unit.id).where(Unit.building_id == building.id,
                                                      Unit.number == number)).first()
    if exists:
        raise ServiceError("unit %(ref)s already exists",
                           ref="/".join((building.estate.name, building.name, str(number))))
    unit = Unit(building=building, number=number, area_centi_m2=area_centi_m2)
    owner = Owner(name=owner_name, phone=owner_phone or None)
    db.session.add_all([unit, owner])
    db.session.flush()
    db.session.add(Ownership(unit=unit, owner=owner, start_on=owned_from))
    append_event("unit_created", actor, unit.ref,
                 {"area_m2": format_fen(area_centi_m2), "owner": owner_name, "owned_from": owned_from.isoformat()})
    return unit


def get_or_create_fee_item(estate, name, actor, basis="fixed", price_fen=0, due_day=None, active=True):
    item = db.session.execute(select(FeeItem).where(FeeItem.estate_id == estate.id,
                                                    FeeItem.name == name)).scalar_one_or_none()
    if item is None:
        item = FeeItem(estate=estate, name=name, basis=basis, price_fen=price_fen, due_day=due_day, active=active)
        db.session.add(item)
        db.session.flush()
        append_event("fee_item_created", actor, None,
                     {"estate": estate.name, "fee_item": name, "basis": basis,
                      "price": format_fen(price_fen), "due_day": due_day, "active": active})
    return item


def add_policy_version(estate, policy: LateFeePolicy, actor):
    """Record a policy version. Raises ``ServiceError`` when one already takes effect that day."""
    clash = db.session.execute(select(LateFeePolicyVersion.id).where(
        LateFeePolicyVersion.estate_id == estate.id,
        LateFeePolicyVersion.effective_from == policy.effective_from)).first()
    if clash:
        raise ServiceError("a late-fee policy already takes effect on %(day)s for %(estate)s",
                           day=policy.effective_from, estate=estate.name)
    row = LateFeePolicyVersion(
        estate_id=estate.id, effective_from=policy.effective_from, daily_rate=str(policy.daily_rate),
        grace_days=policy.grace_days, cap_ratio=None if policy.cap_ratio is None else str(policy.cap_ratio),
        allocation=policy.allocation, created_by=actor)
    db.session.add(row)
    db.session.flush()
    append_event("policy_changed", actor, None, {
        "estate": estate.name, "effective_from": policy.effective_from.isoformat(),
        "daily_rate": str(policy.daily_rate), "grace_days": policy.grace_days,
        "cap_ratio": row.cap_ratio, "allocation": policy.allocation})
    # The projection only knows the versions it was built with. A version that takes
    # effect later ends the projection's validity the day before (one UPDATE; reports
    # fall back to the engine from then until the next refresh); one in force already
    # means rebuilding the estate's units now.
    unit_ids = select(Unit.id).join(Building).where(Building.estate_id == estate.id)
    today = local_today(estate.timezone)
    if policy.effective_from > today:
        last_day = (policy.effective_from - timedelta(days=1)).toordinal()
        for table in (ChargeBalance, UnitBalance):
            db.session.execute(update(table).where(table.unit_id.in_(unit_ids), table.valid_through > last_day)
                               .values(valid_through=last_day), execution_options={"synchronize_session": False})
    else:
        for building in estate.buildings:
            for unit in building.units:
                refresh_unit_balances(unit)
    return row
