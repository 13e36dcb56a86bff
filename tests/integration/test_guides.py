"""Call guides as services (arrears/services/guides.py): the shipped texts, the guide in
force by stage, reason and language, placeholders filled from the household, an admin's
edit as a new version (refused when a section is empty or says what may never be said),
and the guide each contact links — which a later edit never changes.

The worked examples of shared/examples/ledger are imported under a clock stopped at
2026-05-31 10:00 in Shanghai: 0104 owes 109.28 (2026-03 principal 103.00, 61 days overdue,
and late fee) and is in ``demand``; on 2026-04-15 it was in ``reminder``; 0105 owes nothing."""
import json
import os
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import func, select, text
from sqlalchemy.exc import DatabaseError

from arrears.extensions import db
from arrears.models import GUIDE_REASONS, GUIDE_STAGES, CallGuide, Contact, Estate, EvidenceEvent, Unit
from arrears.services import guides
from arrears.services.collection import escalate, log_contact
from arrears.services.evidence import iter_events, verify_chain

SHANGHAI = ZoneInfo("Asia/Shanghai")
FROZEN = datetime(2026, 5, 31, 10, 0, tzinfo=SHANGHAI)
TEXTS = {"opening": "您好，{owner}业主，我是{office}的工作人员。欠费 {amount} 元。",
         "replies": "· 「我已经交了」：请提供凭证。", "offer": "缴费方式：{ways_to_pay}。",
         "never_say": "· 不得以停水相威胁。"}


@pytest.fixture
def clock():
    with time_machine.travel(FROZEN, tick=False) as traveller:
        yield traveller


@pytest.fixture
def units(clock, cli, examples_dir):
    for kind in ("units", "charges", "payments"):
        assert cli("import", kind, os.path.join(examples_dir, f"{kind}.csv")).exit_code == 0
    return {unit.number: unit for unit in db.session.execute(select(Unit)).scalars()}


def count(model, *where):
    return db.session.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def log(unit, reason=None, language="zh_CN", when=datetime(2026, 5, 31, 9, 0, tzinfo=SHANGHAI)):
    return log_contact(unit, channel="phone", contacted_at=when, reached="owner", outcome="answered",
                       actor="clerk", reason=reason, language=language)


# -- the shipped texts ------------------------------------------------------------------------

def test_every_shipped_guide_passes_the_checks_it_imposes_on_edits():
    for key in guides.all_keys():
        texts = guides.shipped_texts(*key)
        assert guides.clean_texts(texts) == texts, key
        assert all(len(texts[s]) < 1200 for s in guides.SECTIONS), key  # short enough to read on a call


def test_shipped_guides_differ_by_stage_and_reason_and_name_what_may_never_be_said():
    zh = guides.shipped_texts("reminder", "opening", "zh_CN")
    assert "{office}" in zh["opening"] and "{amount}" in zh["opening"] and "{periods}" in zh["opening"]
    assert "停止供水" in zh["never_say"] and "法院" in zh["never_say"] and "邻居" in zh["never_say"]
    en = guides.shipped_texts("final", "refuses", "en")
    assert "court" in en["replies"] or "court" in en["offer"]
    assert "water" in en["never_say"] and "law firm" in en["never_say"] and "neighbours" in en["never_say"]
    assert guides.shipped_texts("legal", "refuses", "en")["replies"] != guides.shipped_texts(
        "demand", "refuses", "en")["replies"]
    assert guides.shipped_texts("demand", "hardship", "zh_CN")["offer"] != guides.shipped_texts(
        "demand", "away", "zh_CN")["offer"]


def test_ensure_shipped_guides_adds_version_1_of_every_key_once(app):
    added = guides.ensure_shipped_guides()
    assert len(added) == len(GUIDE_STAGES) * len(GUIDE_REASONS) * 2 == 64
    assert {g.version for g in added} == {1} and {g.created_by for g in added} == {"system"}
    assert guides.ensure_shipped_guides() == []
    assert count(CallGuide) == 64
    assert count(EvidenceEvent, EvidenceEvent.kind == "call_guides_seeded") == 1


def test_a_key_is_seeded_lazily_when_first_read(app):
    assert count(CallGuide) == 0
    guide = guides.guide_in_force("demand", "away", "en")
    assert (guide.stage, guide.reason, guide.language, guide.version) == ("demand", "away", "en", 1)
    assert guide.opening == guides.shipped_texts("demand", "away", "en")["opening"]


def test_unknown_keys_are_refused_by_name(app):
    with pytest.raises(guides.InvalidGuide, match="stage 'closed'"):
        guides.guide_in_force("closed", "opening", "zh_CN")
    with pytest.raises(guides.InvalidGuide, match="reason 'bored'"):
        guides.guide_in_force("demand", "bored", "zh_CN")
    with pytest.raises(guides.InvalidGuide, match="language 'fr'"):
        guides.guide_in_force("demand", "opening", "fr")


# -- selection by stage and reason ------------------------------------------------------------

def test_guide_follows_the_households_stage_the_reason_and_the_language(units):
    unit = units["0104"]
    guide = guides.guide_for_contact(unit, "hardship", "zh_CN")
    assert (guide.stage, guide.reason, guide.language) == ("demand", "hardship", "zh_CN")
    guide = guides.guide_for_contact(unit, None, "en")  # no reason given: the first-call guide
    assert (guide.stage, guide.reason, guide.language) == ("demand", "opening", "en")
    earlier = guides.guide_for_contact(unit, "away", "zh_CN", today=date(2026, 4, 15))
    assert (earlier.stage, earlier.reason) == ("reminder", "away")
    escalate(unit, stage="legal", reason="no answer to the demand", actor="manager")
    assert guides.guide_for_contact(unit, "refuses", "zh_CN").stage == "legal"
    assert guides.guide_for_contact(units["0105"], None, "zh_CN") is None  # owes nothing: no stage


# -- placeholders ---------------------------------------------------------------------------------

def test_placeholders_are_filled_from_the_household_and_the_office_profile(units):
    unit = units["0104"]
    estate = db.session.get(Estate, unit.building.estate_id)
    estate.office_phone, estate.wechat_payee = "021-5555 0000", "示例花园物业"
    db.session.commit()
    filled = guides.fill(guides.guide_in_force("demand", "opening", "zh_CN"), unit)
    assert "业主0104业主" in filled.opening
    assert "示例花园物业服务中心" in filled.opening  # no office name set: the estate's name
    assert "109.28 元" in filled.opening and "6.28 元" in filled.opening and "61 天" in filled.opening
    assert "2026-03" in filled.opening and "示例花园1栋0104室" in filled.opening
    assert "微信（收款方 示例花园物业）" in filled.offer
    assert "21:00 至 08:00" in filled.never_say and "{" not in filled.opening + filled.replies + filled.never_say
    first_call = guides.fill(guides.guide_in_force("reminder", "opening", "zh_CN"), unit)
    assert "021-5555 0000" in first_call.replies
    assert "【未设置：服务中心地址】" in first_call.replies  # a missing profile field is visible, not blank
    english = guides.fill(guides.guide_in_force("reminder", "opening", "en"), unit)
    assert "109.28 yuan" in english.opening and "unit 0104, 1栋, 示例花园" in english.opening
    assert "[not set: office address]" in english.replies


def test_periods_are_listed_or_summarised():
    assert guides._periods_text(["2026-01", "2026-01", "2026-02"], "zh_CN") == "2026-01、2026-02"
    assert guides._periods_text([f"2025-{m:02d}" for m in range(1, 13)], "zh_CN") == "2025-01 至 2025-12（12 期）"
    assert guides._periods_text([f"2025-{m:02d}" for m in range(1, 6)], "en") == "2025-01 to 2025-05 (5 periods)"


# -- editing --------------------------------------------------------------------------------------

def test_an_edit_adds_the_next_version_with_its_evidence(app):
    first = guides.guide_in_force("demand", "opening", "zh_CN")
    edited = guides.edit_guide("demand", "opening", "zh_CN", TEXTS, "admin", based_on=1)
    assert edited.version == 2 and edited.id != first.id
    assert guides.guide_in_force("demand", "opening", "zh_CN").id == edited.id
    assert [g.version for g in guides.guide_history("demand", "opening", "zh_CN")] == [2, 1]
    event = db.session.execute(select(EvidenceEvent).where(EvidenceEvent.kind == "call_guide_edited")).scalar_one()
    data = json.loads(event.data)
    assert (data["guide_id"], data["version"], data["previous_version"]) == (edited.id, 2, 1)
    assert data["texts"]["opening"] == TEXTS["opening"] and event.actor == "admin"
    assert verify_chain() == count(EvidenceEvent)  # seeding and edit events are in the chain


@pytest.mark.parametrize("section, phrase, wording", [
    ("opening", "停水", "再不交就停水"),
    ("replies", "停 电", "· 「不交」：那就停 电。"),
    ("offer", "公安", "可以请公安协助"),
    ("opening", "this is the court", "Hello, THIS is   the court calling about {amount}."),
    ("replies", "cut off", "· We will cut-off your heating."),
    ("offer", "law firm", "Pay the law firm."),
])
def test_forbidden_phrases_are_refused_with_the_phrase_and_section_named(app, section, phrase, wording):
    texts = dict(TEXTS, **{section: wording})
    with pytest.raises(guides.InvalidGuide) as refused:
        guides.edit_guide("final", "refuses", "zh_CN", texts, "admin")
    assert refused.value.code == "forbidden_phrase" and refused.value.section == section
    assert refused.value.detail == phrase.replace(" ", "") if not phrase.isascii() else refused.value.detail == phrase
    assert f"section {section}" in str(refused.value)
    assert count(CallGuide, CallGuide.version > 1) == 0


def test_never_say_may_name_the_forbidden_things(app):
    texts = dict(TEXTS, never_say="· 不得说停水、停电；不得自称公安、法院或律师事务所。")
    assert guides.edit_guide("final", "refuses", "zh_CN", texts, "admin").version == 2


@pytest.mark.parametrize("section", guides.SECTIONS)
def test_an_empty_section_is_refused_by_name(app, section):
    with pytest.raises(guides.InvalidGuide, match=f"section {section} is empty") as refused:
        guides.edit_guide("reminder", "opening", "en", dict(TEXTS, **{section: "  \n "}), "admin")
    assert refused.value.code == "empty_section" and refused.value.section == section


def test_other_bad_edits_are_refused_with_a_clear_message(app):
    with pytest.raises(guides.InvalidGuide, match=r"\{amout\}, which is not a placeholder") as refused:
        guides.edit_guide("reminder", "opening", "en", dict(TEXTS, opening="You owe {amout}."), "admin")
    assert refused.value.section == "opening" and refused.value.code == "unknown_placeholder"
    with pytest.raises(guides.InvalidGuide, match="longer than 4000"):
        guides.edit_guide("reminder", "opening", "en", dict(TEXTS, offer="x" * 4001), "admin")
    current = guides.guide_texts(guides.guide_in_force("reminder", "opening", "en"))
    with pytest.raises(guides.InvalidGuide, match="nothing changed"):
        guides.edit_guide("reminder", "opening", "en", current, "admin")
    guides.edit_guide("reminder", "opening", "en", TEXTS, "admin", based_on=1)
    with pytest.raises(guides.InvalidGuide, match="version 2 was saved after the version 1") as refused:
        guides.edit_guide("reminder", "opening", "en", dict(TEXTS, offer="Another offer."), "admin2", based_on=1)
    assert refused.value.code == "stale"


def test_guides_are_append_only_in_the_database(app):
    guide = guides.guide_in_force("reminder", "opening", "zh_CN")
    guide_id = guide.id
    db.session.commit()
    for statement in (f"UPDATE call_guides SET opening = 'x' WHERE id = {guide_id}",
                      f"DELETE FROM call_guides WHERE id = {guide_id}"):
        with pytest.raises(DatabaseError):
            db.session.execute(text(statement))
        db.session.rollback()
    assert db.session.get(CallGuide, guide_id).opening != "x"


# -- linking contacts -------------------------------------------------------------------------

def test_a_contact_links_the_guide_in_force_and_a_later_edit_does_not_change_it(units):
    unit = units["0104"]
    first = log(unit, reason="hardship")
    v1 = guides.guide_in_force("demand", "hardship", "zh_CN")
    assert first.guide_id == v1.id and v1.version == 1
    event = [e for e in iter_events(unit=unit.ref) if e["kind"] == "contact_logged"][-1]
    assert event["data"]["guide"] == {"id": v1.id, "version": 1, "stage": "demand", "reason": "hardship",
                                               "language": "zh_CN"}
    v2 = guides.edit_guide("demand", "hardship", "zh_CN", TEXTS, "admin")
    later = log(unit, reason="hardship", when=datetime(2026, 5, 31, 9, 30, tzinfo=SHANGHAI))
    db.session.expire_all()
    assert db.session.get(Contact, first.id).guide_id == v1.id  # unchanged by the edit
    assert db.session.get(Contact, later.id).guide_id == v2.id
    assert db.session.get(CallGuide, v1.id).opening == guides.shipped_texts("demand", "hardship", "zh_CN")["opening"]


def test_no_reason_links_the_opening_guide_in_the_clerks_language(units):
    row = log(units["0104"], reason=None, language="en")
    guide = db.session.get(CallGuide, row.guide_id)
    assert (guide.stage, guide.reason, guide.language) == ("demand", "opening", "en")


def test_a_household_with_no_stage_links_no_guide(units):
    row = log(units["0105"])
    assert row.guide_id is None
    event = [e for e in iter_events(unit=units["0105"].ref) if e["kind"] == "contact_logged"][-1]
    assert "guide" not in event["data"]


def test_a_refused_contact_adds_no_guide_rows_of_its_own(units):
    from arrears.services.collection import ContactPolicyBreach
    with pytest.raises(ContactPolicyBreach):
        log(units["0104"], when=datetime(2026, 5, 30, 23, 0, tzinfo=SHANGHAI))
    assert count(Contact) == 0
