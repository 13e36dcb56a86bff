"""Collection acts as services (arrears/services/collection.py): each writes its rows and
its evidence event or nothing; a form token is honoured once, even by two submissions
arriving at the same moment."""
import os
import threading
from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from arrears.extensions import db
from arrears.models import Contact, EvidenceEvent, Unit
from arrears.services.collection import (AlreadySubmitted, ContactPolicyBreach, InvalidAct, escalate,
                                         log_contact, open_dispute, record_promise, update_dispute)

SHANGHAI = ZoneInfo("Asia/Shanghai")
TOKEN = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def unit(cli, examples_dir):
    assert cli("import", "units", os.path.join(examples_dir, "units.csv")).exit_code == 0
    return db.session.execute(select(Unit).order_by(Unit.id)).scalars().first()


def events(kind):
    return db.session.execute(select(func.count()).select_from(EvidenceEvent)
                              .where(EvidenceEvent.kind == kind)).scalar_one()


def contact(unit, when=datetime(2026, 5, 30, 10, 0, tzinfo=SHANGHAI), **kwargs):
    arguments = {"channel": "phone", "contacted_at": when, "reached": "owner", "outcome": "answered",
                 "actor": "clerk", "now": datetime(2026, 5, 31, 2, 0, tzinfo=timezone.utc)}
    arguments.update(kwargs)
    return log_contact(unit, **arguments)


def test_contact_policy_breach_writes_nothing_without_justification(unit):
    with pytest.raises(ContactPolicyBreach) as refused:
        contact(unit, when=datetime(2026, 5, 30, 23, 0, tzinfo=SHANGHAI))
    assert refused.value.breaches == ["quiet_hours"]
    assert events("contact_logged") == 0
    row = contact(unit, when=datetime(2026, 5, 30, 23, 0, tzinfo=SHANGHAI), justification="owner called back")
    assert row.policy_breach and events("contact_logged") == 1


def test_a_contact_entered_late_counts_against_the_ones_recorded_after_its_time(unit):
    """Contacts at 23:00 on the 29th (justified), 09:00 and 10:15 on the 30th; one entered
    afterwards for 09:30 on the 30th is the 4th in 7 days: it needs a justification."""
    contact(unit, when=datetime(2026, 5, 29, 23, 0, tzinfo=SHANGHAI), justification="owner asked for a late call")
    contact(unit, when=datetime(2026, 5, 30, 9, 0, tzinfo=SHANGHAI))
    contact(unit, when=datetime(2026, 5, 30, 10, 15, tzinfo=SHANGHAI))
    with pytest.raises(ContactPolicyBreach) as refused:
        contact(unit, when=datetime(2026, 5, 30, 9, 30, tzinfo=SHANGHAI))
    assert refused.value.breaches == ["too_many"]
    assert events("contact_logged") == 3


def test_the_same_token_is_honoured_once(unit):
    contact(unit, form_token=TOKEN)
    with pytest.raises(AlreadySubmitted):
        contact(unit, form_token=TOKEN)
    with pytest.raises(AlreadySubmitted):  # the token is the form's, whatever the act
        record_promise(unit, amount_fen=100, promised_on=date(2030, 1, 1), made_on=date(2029, 12, 1),
                       actor="clerk", form_token=TOKEN)
    assert db.session.execute(select(func.count()).select_from(Contact)).scalar_one() == 1
    with pytest.raises(InvalidAct):
        contact(unit, form_token="not-hex")


def test_two_submissions_at_the_same_moment_record_once(app, unit):
    unit_id = unit.id
    barrier = threading.Barrier(2)
    outcomes = []

    def submit():
        with app.app_context():
            try:
                target = db.session.get(Unit, unit_id)
                barrier.wait()
                contact(target, form_token=TOKEN)
                outcomes.append("recorded")
            except AlreadySubmitted:
                outcomes.append("refused")
            except OperationalError:  # SQLite may refuse the second writer outright
                outcomes.append("locked")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(outcomes) in (["recorded", "refused"], ["locked", "recorded"]), outcomes
    db.session.expire_all()
    assert db.session.execute(select(func.count()).select_from(Contact)).scalar_one() == 1
    assert events("contact_logged") == 1


def test_dispute_moves_only_along_the_lifecycle(unit):
    dispute = open_dispute(unit, subject="lift", actor="clerk")
    update_dispute(unit, dispute_id=dispute.id, status="resolved", actor="clerk")
    with pytest.raises(InvalidAct) as refused:
        update_dispute(unit, dispute_id=dispute.id, status="rejected", actor="clerk")
    assert refused.value.code == "bad_transition"
    update_dispute(unit, dispute_id=dispute.id, status="open", actor="clerk", note="reopened")
    assert [events(k) for k in ("dispute_opened", "dispute_updated")] == [1, 2]


def test_escalation_rules(unit):
    with pytest.raises(InvalidAct):
        escalate(unit, stage="cleared", reason="nothing to clear", actor="manager")
    with pytest.raises(InvalidAct):
        escalate(unit, stage="legal", reason="  ", actor="manager")
    escalate(unit, stage="legal", reason="unpaid", actor="manager")
    with pytest.raises(InvalidAct):
        escalate(unit, stage="legal", reason="again", actor="manager")
    assert events("stage_changed") == 1
