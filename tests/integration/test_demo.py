"""The demo estate (SPEC §10 ``demo``): two years of 示例花园 through the command line.

Loading takes a while, so one test loads it and checks everything that must hold of
the result; the plan itself (deterministic, nothing after the as-of date) is checked
without a database.
"""
import json
from collections import Counter
from datetime import date, timedelta

from sqlalchemy import func, select

from arrears.domain.policy import PolicySchedule
from arrears.extensions import db
from arrears.models import (Charge, Estate, EvidenceEvent, HardshipStatus, Payment, Reversal, Unit, User,
                            Waiver)
from arrears.services.crypto import decrypt_text
from arrears.services.demo import demo_periods, plan_estate
from arrears.services.ledger import UnitHistory
from arrears.services.reports import arrears_by_unit

AS_OF = date(2026, 11, 23)


def count(model):
    return db.session.execute(select(func.count()).select_from(model)).scalar_one()


def test_demo_loads_a_consistent_estate_with_every_kind_of_household(app, cli, tmp_path):
    result = cli("demo", "--as-of", AS_OF.isoformat())
    assert result.exit_code == 0, result.output
    assert "376 units" in result.output

    units = count(Unit)
    assert 200 <= units <= 800

    # 24 monthly periods per unit, ending with the as-of month.
    periods = demo_periods(AS_OF)
    assert periods[0] == "2024-12" and periods[-1] == "2026-11" and len(periods) == 24
    per_unit = db.session.execute(select(Charge.unit_id, func.count(func.distinct(Charge.period)))
                                  .group_by(Charge.unit_id)).all()
    assert len(per_unit) == units and {n for _, n in per_unit} == {24}
    assert set(db.session.execute(select(Charge.period).distinct()).scalars()) == set(periods)

    # The chain is intact and the fast report equals the engine for every unit.
    chain = cli("verify-chain")
    assert chain.exit_code == 0, chain.output
    balances = cli("check-balances", "--as-of", AS_OF.isoformat())
    assert balances.exit_code == 0, balances.output

    arrears = arrears_by_unit(AS_OF)
    assert len(arrears) == units
    year_ago = (AS_OF - timedelta(days=365)).toordinal()
    assert sum(1 for r in arrears.values() if r.total_outstanding_fen == 0) > units // 3
    assert any(r.principal_outstanding_fen > 0 and r.oldest_due_day < year_ago for r in arrears.values())
    assert any(r.credit_fen > 0 for r in arrears.values())
    assert any(0 < r.principal_outstanding_fen and r.late_fee_outstanding_fen > 0 for r in arrears.values())

    # Payments: never after the as-of date, one reversed with its reason.
    assert db.session.execute(select(func.max(Payment.paid_on))).scalar_one() <= AS_OF
    reversals = db.session.execute(select(Reversal)).scalars().all()
    assert len(reversals) == 1 and reversals[0].payment_id and reversals[0].reason.strip()

    # Hardship and waivers: requested by a clerk, approved by a manager.
    roles = dict(db.session.execute(select(User.username, User.role)).all())
    assert {name: roles.get(name) for name in ("manager", "manager2", "clerk", "clerk2", "lawyer", "admin")} == {
        "manager": "manager", "manager2": "manager", "clerk": "clerk", "clerk2": "clerk", "lawyer": "lawyer",
        "admin": "admin"}
    statuses = db.session.execute(select(HardshipStatus)).scalars().all()
    assert statuses
    for status in statuses:
        assert roles[status.requested_by] == "clerk" and roles[status.approved_by] == "manager"
        assert decrypt_text(status.reason_encrypted) and "家" not in status.reason_encrypted
    waivers = db.session.execute(select(Waiver)).scalars().all()
    assert waivers and {w.reason for w in waivers} == {"non_malicious"} and {w.kind for w in waivers} == {"late_fee"}
    for waiver in waivers:
        assert roles[waiver.requested_by] == "clerk" and roles[waiver.approved_by] == "manager"
        # The engine takes off no more than what is outstanding: the whole amount shows
        # as waived only if it was not above the late fee outstanding that day.
        unit = db.session.get(Unit, waiver.charge.unit_id)
        line = UnitHistory(unit, waiver.approved_on).statement().charge(waiver.charge_id)
        assert line.late_fee_waived_fen == waiver.amount_fen

    # Relief in every state: a plan kept so far, a plan broken (its break recorded once),
    # and a clerk's hardship request and waiver request awaiting a manager.
    from arrears.models import HardshipRequest, PlanBreak, WaiverRequest
    from arrears.services import relief
    plans = relief.plan_lines(AS_OF)
    assert sorted(line.state.status for line in plans) == ["active", "broken"]
    for line in plans:
        assert line.plan.requested_by == "clerk" and relief.decision_of("plan", line.plan.id).decided_by == "manager"
        assert sum(i.amount_fen for i in line.plan.instalments) == line.plan.covered_fen
    broken = next(line for line in plans if line.state.status == "broken")
    recorded = db.session.execute(select(PlanBreak)).scalar_one()
    assert (recorded.plan_id, recorded.broken_on) == (broken.plan.id, broken.state.broken_on)
    pending = relief.pending_requests()
    assert sorted(line.subject for line in pending) == ["hardship", "waiver"]
    assert all(line.request.requested_by == "clerk" for line in pending)
    hardship_request = db.session.execute(select(HardshipRequest)).scalar_one()
    assert hardship_request.document_sha256 and relief.hardship_reason(hardship_request)
    assert db.session.execute(select(WaiverRequest)).scalar_one().amount_fen is None  # all the late fee
    # While the plan is kept, its charges accrue nothing from the approval on.
    active = next(line for line in plans if line.state.status == "active")
    history = UnitHistory(active.unit, AS_OF)
    covered = {c.charge_id for c in active.plan.charges}
    suspended = [s for s in history.suspensions if s.charge_ids == frozenset(covered)]
    assert suspended and suspended[0].start == active.approved_on

    # Every act has its evidence event; payment events come in date order.
    kinds = Counter(db.session.execute(select(EvidenceEvent.kind)).scalars())
    assert kinds["unit_created"] == units
    assert kinds["charge_billed"] == count(Charge)
    assert kinds["billing_run"] == 24
    assert kinds["payment_posted"] == count(Payment)
    assert kinds["payment_reversed"] == 1
    assert kinds["hardship_approved"] == len(statuses)
    assert kinds["waiver_approved"] == len(waivers)
    assert (kinds["plan_requested"], kinds["plan_approved"], kinds["plan_broken"]) == (2, 2, 1)
    assert (kinds["hardship_requested"], kinds["waiver_requested"]) == (1, 1)
    # The office's letterhead and ways to pay are filled in, with their event.
    estate = db.session.execute(select(Estate)).scalar_one()
    assert estate.office_name == "示例花园物业服务中心" and estate.office_phone.startswith("0571-")
    assert all((estate.office_address, estate.office_hours, estate.bank_name, estate.bank_account_name,
                estate.bank_account_no, estate.wechat_payee, estate.alipay_payee, estate.relief_contact))
    assert kinds["estate_profile_changed"] == 1
    paid_on = [json.loads(data)["paid_on"] for data in db.session.execute(
        select(EvidenceEvent.data).where(EvidenceEvent.kind == "payment_posted").order_by(EvidenceEvent.seq)
    ).scalars()]
    assert paid_on == sorted(paid_on)

    # The collection history: both clerks called, within the contact policy; promises kept
    # and broken; enough calls for best-time windows learned from the households' own.
    check_collection_history(kinds)

    # The legal hand-off: a reminder handed to an owner; the refuser owing most sent a
    # demand by registered mail (refused at the registered address), escalated to legal
    # and assigned to the demo lawyer, who sees that household and nothing else and can
    # take its bundle.
    check_legal_hand_off(cli, kinds, tmp_path)

    # The limitation sources answer for many households at once (the watchlist asks so)
    # exactly what they answer one household at a time.
    check_interruption_sources_in_bulk()

    # A unit's statement reads back through the command line.
    statement = cli("statement", "示例花园/1栋/0101", "--as-of", AS_OF.isoformat(), "--json")
    assert statement.exit_code == 0 and len(json.loads(statement.output)["charges"]) == 24

    # Loading again: --if-empty does nothing; without it the demo refuses to double up.
    before = (count(Estate), count(Charge), count(Payment), count(EvidenceEvent))
    again = cli("demo", "--if-empty", "--as-of", AS_OF.isoformat())
    assert again.exit_code == 0 and "nothing loaded" in again.output
    refused = cli("demo", "--as-of", AS_OF.isoformat())
    assert refused.exit_code == 1 and "already exists" in refused.output
    assert (count(Estate), count(Charge), count(Payment), count(EvidenceEvent)) == before


def check_interruption_sources_in_bulk():
    from arrears.services.ledger import INTERRUPTION_SOURCES
    from arrears.services.notices import delivered_notice_interruptions
    from arrears.services.relief import plan_interruptions
    unit_ids = db.session.execute(select(Unit.id)).scalars().all()
    # The demo's notices are issued and delivered on the real day, which may be after AS_OF.
    later = date.today() + timedelta(days=366)
    for source in INTERRUPTION_SOURCES:
        one_by_one = {}
        for unit_id in unit_ids:
            for charge_id, dates in source([unit_id], later).items():
                assert charge_id not in one_by_one
                one_by_one[charge_id] = sorted(dates)
        assert {charge: sorted(dates) for charge, dates in source(unit_ids, later).items()} == one_by_one
        if source in (delivered_notice_interruptions, plan_interruptions):
            assert one_by_one, source.__name__  # the demo delivers notices and approves plans
        some = unit_ids[::7]
        charges_of_some = set(db.session.execute(select(Charge.id).where(Charge.unit_id.in_(some))).scalars())
        assert set(source(some, later)) == set(one_by_one) & charges_of_some


def test_the_plan_is_deterministic_and_never_dated_after_the_as_of_day():
    first = plan_estate(AS_OF, PolicySchedule())
    second = plan_estate(AS_OF, PolicySchedule())
    assert first == second
    shares = Counter(h.behaviour for h in first)
    assert shares["prompt"] / len(first) > 0.5
    assert all(shares[kind] for kind in ("late", "partial", "refuser", "hardship", "prepayer"))
    references = [p.reference for h in first for p in h.payments]
    assert len(references) == len(set(references))
    assert max(p.paid_on for h in first for p in h.payments) <= AS_OF
    assert all(6850 <= h.area_centi_m2 <= 14320 for h in first)
    assert all(h.owner_phone.isdigit() and len(h.owner_phone) == 11 for h in first)
    # The same households, areas and owners whatever the as-of date.
    earlier = plan_estate(date(2026, 3, 5), PolicySchedule())
    assert [(h.ref, h.owner_name, h.area_centi_m2, h.behaviour) for h in earlier] == \
        [(h.ref, h.owner_name, h.area_centi_m2, h.behaviour) for h in first]


def check_collection_history(kinds):
    from zoneinfo import ZoneInfo
    from arrears.domain.contact_policy import breaches
    from arrears.domain.promises import promise_status
    from arrears.models import Contact, Promise
    from arrears.services.best_time import household_calls
    from datetime import datetime, timezone
    contacts = db.session.execute(select(Contact).order_by(Contact.contacted_at)).scalars().all()
    assert len(contacts) > 200 and kinds["contact_logged"] == len(contacts)
    assert {c.staff for c in contacts} == {"clerk", "clerk2"}
    zone = ZoneInfo("Asia/Shanghai")
    local = [(c.unit_id, c.contacted_at.replace(tzinfo=c.contacted_at.tzinfo or timezone.utc).astimezone(zone)
              .replace(tzinfo=None)) for c in contacts]
    assert all(moment.date() < AS_OF for _, moment in local)
    for unit_id, moment in local:
        previous = [m for u, m in local if u == unit_id and m < moment]
        assert breaches(moment, previous, "owner") == [], (unit_id, moment)
    promises = db.session.execute(select(Promise)).scalars().all()
    assert kinds["promise_recorded"] == len(promises) > 20
    assert promises and all(p.promised_on >= p.made_on for p in promises)
    paid = {}
    for unit_id, day, amount in db.session.execute(select(Payment.unit_id, Payment.paid_on, Payment.amount_fen)):
        paid.setdefault(unit_id, []).append((day, amount))
    statuses = Counter(promise_status(p.amount_fen, p.made_on, p.promised_on, paid.get(p.unit_id, []), AS_OF)
                       for p in promises)
    assert statuses["kept"] > 10 and statuses["broken"] > 3, statuses
    now = datetime(2026, 11, 23, 4, 0, tzinfo=timezone.utc)
    calls = household_calls({c.unit_id for c in contacts}, now)
    assert sum(1 for found in calls.values() if len(found) >= 5) >= 10


def check_legal_hand_off(cli, kinds, tmp_path):
    import zipfile
    from arrears.models import Delivery, Notice
    from arrears.services.cases import assigned_lawyer, assigned_unit_ids
    notices = db.session.execute(select(Notice).order_by(Notice.serial)).scalars().all()
    assert [n.kind for n in notices] == ["reminder", "demand"]
    deliveries = {d.notice_id: d for d in db.session.execute(select(Delivery)).scalars()}
    reminder, demand = notices
    assert (deliveries[reminder.id].method, deliveries[reminder.id].outcome) == ("hand_signed", "delivered")
    refused = deliveries[demand.id]
    assert (refused.method, refused.outcome, refused.at_registered_address) == ("registered_mail", "refused", True)
    legal_unit = db.session.get(Unit, demand.unit_id)
    assert set(assigned_unit_ids("lawyer")) == {legal_unit.id} and assigned_lawyer(legal_unit.id) == "lawyer"
    assert (kinds["notice_issued"], kinds["stage_changed"], kinds["case_lawyer_assigned"]) == (2, 1, 1)
    db.session.rollback()
    path = tmp_path / "bundle.zip"
    exported = cli("bundle", legal_unit.ref, "-o", str(path))
    assert exported.exit_code == 0, exported.output
    checked = cli("verify-bundle", str(path))
    assert checked.exit_code == 0, checked.output
    names = zipfile.ZipFile(path).namelist()
    assert f"notices/{demand.serial}.pdf" in names and "index.pdf" in names
