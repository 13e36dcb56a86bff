"""Visit sheets (arrears/services/visits.py): who is due a visit, the route's order, the
printed PDF (real WeasyPrint, real CJK font), and entering the outcomes all or nothing,
once."""
import io
import json
import os
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from pypdf import PdfReader
from sqlalchemy import func, select

from arrears.extensions import db
from arrears.models import (Building, Contact, Estate, EvidenceEvent, Promise, Unit, VisitSheet, VisitSheetItem)
from arrears.services.collection import escalate, log_contact, open_dispute, record_promise
from arrears.services.files import read_file
from arrears.web.formats import money as screen_money
from arrears.services.visits import (OutcomeRow, OutcomesRefused, VisitRefused, households_due, make_sheet,
                                     natural_key, record_outcomes, unit_place)

SHANGHAI = ZoneInfo("Asia/Shanghai")
FROZEN = datetime(2026, 5, 31, 10, 0, tzinfo=SHANGHAI)
TODAY = date(2026, 5, 31)
ESTATE = "示例花园"

# building, unit, owner, amount owed (due 2026-03-31: demand on 2026-05-31), blank = owes nothing
HOUSEHOLDS = [
    ("10栋", "0101", "周十", "120.00"),
    ("3栋", "1201", "张伟", "300.00"),
    ("3栋", "0305", "李娜", "150.50"),
    ("3栋", "B1-02", "王芳", "80.00"),
    ("3栋", "12A", "刘洋", "99.00"),
    ("3栋", "2-0101", "陈静", "60.00"),
    ("3栋", "商铺3", "杨磊", "500.00"),
    ("3栋", "0902", "赵敏", "210.00"),
    ("3栋", "0301", "孙强", ""),  # paid up
    ("3栋", "0501", "钱进", "400.00"),  # escalated to legal
    ("3栋", "0601", "吴刚", "330.00"),  # three contacts this week
    ("3栋", "0701", "郑洁", "440.00"),  # open dispute
    ("3栋", "0801", "冯雪", "550.00"),  # visited three days ago
    ("1栋", "0201", "褚明", "77.00"),
]


@pytest.fixture
def clock():
    with time_machine.travel(FROZEN, tick=False) as traveller:
        yield traveller


@pytest.fixture
def estate(clock, cli, write_csv):
    units = ["estate,building,unit,area_m2,owner_name,owner_phone"]
    charges = ["estate,building,unit,period,fee_item,amount,due_date"]
    for building, number, owner, amount in HOUSEHOLDS:
        units.append(f"{ESTATE},{building},{number},80.00,{owner},13800001111")
        if amount:
            charges.append(f"{ESTATE},{building},{number},2026-03,物业管理费,{amount},2026-03-31")
    for kind, rows in (("units", units), ("charges", charges)):
        result = cli("import", kind, write_csv(f"{kind}.csv", "\n".join(rows) + "\n"))
        assert result.exit_code == 0, result.output
    unit = {u.number: u for u in db.session.execute(select(Unit)).scalars()}
    escalate(unit["0501"], stage="legal", reason="lawsuit", actor="manager")
    for hour in (9, 10, 11):
        log_contact(unit["0601"], channel="phone", contacted_at=datetime(2026, 5, 28, hour, tzinfo=SHANGHAI),
                    reached="owner", outcome="no answer", actor="clerk")
    open_dispute(unit["0701"], subject="电梯常坏", actor="clerk")
    log_contact(unit["0801"], channel="visit", contacted_at=datetime(2026, 5, 28, 15, tzinfo=SHANGHAI),
                reached="owner", outcome="说发工资后来缴", actor="clerk")
    record_promise(unit["0801"], amount_fen=20000, promised_on=date(2026, 6, 10), actor="clerk")
    return db.session.execute(select(Estate)).scalar_one()


def building_ids(*names):
    return [db.session.execute(select(Building.id).where(Building.name == name)).scalar_one() for name in names]


def unit_id(number):
    return db.session.execute(select(Unit.id).where(Unit.number == number)).scalar_one()


def count(model):
    return db.session.execute(select(func.count()).select_from(model)).scalar_one()


# -- order -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("number, stairwell, floor", [
    ("1201", 0, 12), ("0305", 0, 3), ("305", 0, 3), ("1201室", 0, 12), ("12A", 0, 12), ("1201A", 0, 12),
    ("12-01", 0, 12), ("2-1201", 2, 12), ("2单元0305", 2, 3), ("B1-02", 0, -1), ("B102", 0, -1), ("B2", 0, -2),
    ("１２０１", 0, 12), ("商铺3", 0, None), ("7", 0, None),
])
def test_unit_place_reads_the_floor(number, stairwell, floor):
    place = unit_place(number)
    assert (place.stairwell, place.floor) == (stairwell, floor)


def test_route_order_is_building_stairwell_floor_unit():
    numbers = ["1201", "商铺3", "0902", "12A", "B1-02", "0305", "1202", "0301", "2-0101", "1", "11"]
    ordered = sorted(numbers, key=lambda n: unit_place(n).key + (natural_key(n),))
    assert ordered == ["B1-02", "0301", "0305", "0902", "1201", "1202", "12A", "1", "11", "商铺3", "2-0101"]
    assert sorted(["10栋", "3栋", "1栋", "2号楼"], key=natural_key) == ["1栋", "2号楼", "3栋", "10栋"]


# -- who is due ----------------------------------------------------------------------------------

def test_who_is_due_and_in_what_order(estate):
    plan = households_due(estate.id, building_ids("10栋", "3栋"), date(2026, 6, 1))
    assert [r.ref.split("/", 1)[1] for r in plan.rows] == [
        "3栋/B1-02", "3栋/0305", "3栋/0801", "3栋/0902", "3栋/1201", "3栋/12A", "3栋/商铺3", "3栋/2-0101",
        "10栋/0101"]
    # 0301 paid up (not counted), 0501 legal, 0601 three contacts this week, 0701 open dispute
    assert plan.left_out == {"legal": 1, "too_many": 1, "dispute": 1}
    first = plan.rows[0]
    assert (first.owner_name, first.owed_fen, first.stage, first.floor) == ("王芳", 8488, "demand", -1)
    visited = next(r for r in plan.rows if r.ref.endswith("/0801"))
    assert visited.last_contact.channel == "visit" and visited.last_contact.on == date(2026, 5, 28)
    assert (visited.promise.amount_fen, visited.promise.status) == (20000, "pending")


def test_options_disputed_and_recently_visited(estate):
    plan = households_due(estate.id, building_ids("3栋"), TODAY, include_disputed=True, not_visited_days=7)
    refs = [r.ref.rsplit("/", 1)[1] for r in plan.rows]
    assert "0701" in refs and "0801" not in refs
    assert next(r for r in plan.rows if r.ref.endswith("/0701")).open_disputes == 1
    assert plan.left_out == {"legal": 1, "too_many": 1, "visited": 1}


def test_the_weekly_count_is_counted_on_the_visit_date(estate):
    """Three contacts on 2026-05-28: a visit up to 2026-06-03 would be the fourth in seven days."""
    on_third = households_due(estate.id, building_ids("3栋"), date(2026, 6, 3))
    on_fourth = households_due(estate.id, building_ids("3栋"), date(2026, 6, 4))
    assert not any(r.ref.endswith("/0601") for r in on_third.rows)
    assert any(r.ref.endswith("/0601") for r in on_fourth.rows)


@pytest.mark.parametrize("buildings, day, code", [
    ((), TODAY, "no_buildings"),
    (("3栋",), date(2026, 5, 30), "past_date"),
    (("3栋",), date(2026, 8, 1), "too_far"),
    (("3栋",), None, "no_date"),
])
def test_bad_requests_are_refused(estate, buildings, day, code):
    with pytest.raises(VisitRefused) as refused:
        households_due(estate.id, building_ids(*buildings), day)
    assert refused.value.code == code


def test_a_building_of_another_estate_is_refused(estate, cli, write_csv):
    result = cli("import", "units", write_csv("other.csv", "estate,building,unit,area_m2,owner_name,owner_phone\n"
                                                          "别的小区,9栋,0101,80.00,某人,13800002222\n"))
    assert result.exit_code == 0, result.output
    with pytest.raises(VisitRefused) as refused:
        make_sheet(estate.id, building_ids("3栋", "9栋"), TODAY, "clerk")
    assert refused.value.code == "other_estate" and "9栋" in str(refused.value)
    with pytest.raises(VisitRefused) as refused:
        households_due(estate.id, [987654], TODAY)
    assert refused.value.code == "unknown_building"
    assert count(VisitSheet) == 0


def test_no_household_due_is_refused_and_writes_nothing(estate, cli, write_csv):
    result = cli("import", "units", write_csv("paid.csv", "estate,building,unit,area_m2,owner_name,owner_phone\n"
                                                         f"{ESTATE},8栋,0101,80.00,某人,13800002222\n"))
    assert result.exit_code == 0, result.output
    with pytest.raises(VisitRefused) as refused:
        make_sheet(estate.id, building_ids("8栋"), TODAY, "clerk")
    assert refused.value.code == "none_due" and "8栋" in str(refused.value)
    assert count(VisitSheet) == 0 and count(VisitSheetItem) == 0


# -- the printed sheet ------------------------------------------------------------------------------

def money(fen):
    """An amount as the household list shows it (Chinese screen)."""
    from flask_babel import force_locale
    with force_locale("zh_CN"):
        return screen_money(fen)


def pdf_text(data):
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def embedded_fonts(data):
    names = set()
    for page in PdfReader(io.BytesIO(data)).pages:
        for font in (page["/Resources"].get("/Font") or {}).values():
            font = font.get_object()
            names.add(str(font.get("/BaseFont")))
            for descendant in font.get("/DescendantFonts") or []:
                descriptor = descendant.get_object().get("/FontDescriptor")
                if descriptor is not None and any(k in descriptor.get_object() for k in ("/FontFile", "/FontFile2",
                                                                                          "/FontFile3")):
                    names.add("embedded:" + str(descendant.get_object().get("/BaseFont")))
    return names


def test_the_sheet_prints_the_route_in_chinese(estate):
    plan = households_due(estate.id, building_ids("3栋", "10栋"), date(2026, 6, 1))
    sheet, serial = make_sheet(estate.id, building_ids("3栋", "10栋"), date(2026, 6, 1), "clerk")
    assert serial == "WF-2026-000001"
    data = read_file(sheet.sha256)
    if os.environ.get("VISIT_SHEET_SAMPLE"):  # docs/visits/: the picture of a sheet
        open(os.environ["VISIT_SHEET_SAMPLE"], "wb").write(data)
    text = pdf_text(data)
    compact = text.replace(" ", "").replace("\n", "")
    order = ["B1-02", "0305", "0801", "0902", "1201", "12A", "商铺3", "2-0101", "0101"]
    positions = [compact.index(number) for number in order]
    assert positions == sorted(positions), text
    for owner in ("王芳", "李娜", "冯雪", "赵敏", "刘洋", "张伟", "杨磊", "陈静", "周十"):
        assert owner in compact
    for absent in ("孙强", "钱进", "吴刚", "郑洁"):  # paid up, legal, over the weekly count, disputed
        assert absent not in compact
    for row in plan.rows:  # principal + late fee, grouped as the household list shows them
        assert money(row.owed_fen) in compact
    assert money(plan.owed_fen) in compact and "," in money(plan.owed_fen)
    assert "本金500.00" in compact  # 商铺3's principal, beside its late fee
    assert "外访单" in compact and "催告" in compact and "示例花园" in compact and "2026年6月1日" in compact
    assert "13800001111" not in compact and "138****1111" not in compact  # a door visit needs no phone
    assert "第1页/共" in compact
    assert any("NotoSansCJK" in name.replace("-", "") or "NotoSerifCJK" in name.replace("-", "")
               for name in embedded_fonts(data) if name.startswith("embedded:")), embedded_fonts(data)
    items = db.session.execute(select(VisitSheetItem).where(VisitSheetItem.sheet_id == sheet.id)
                               .order_by(VisitSheetItem.position)).scalars().all()
    assert [i.position for i in items] == list(range(1, 10))
    assert (items[0].unit_id, items[0].owed_fen, items[0].stage) == (unit_id("B1-02"), 8488, "demand")
    event = db.session.execute(select(EvidenceEvent).where(EvidenceEvent.kind == "visit_sheet_printed")).scalar_one()
    recorded = json.loads(event.data)
    assert recorded["sheet_id"] == sheet.id and recorded["serial"] == serial and recorded["sha256"] == sheet.sha256
    assert recorded["units"][0] == f"{ESTATE}/3栋/B1-02" and len(recorded["units"]) == 9
    assert sheet.buildings == ",".join(str(i) for i in building_ids("3栋", "10栋"))


def test_rows_do_not_split_across_pages(estate, cli, write_csv):
    """Forty households: several pages, each household's block whole on one page."""
    units = ["estate,building,unit,area_m2,owner_name,owner_phone"]
    charges = ["estate,building,unit,period,fee_item,amount,due_date"]
    for floor in range(1, 21):
        for room in (1, 2):
            number = f"{floor:02d}{room:02d}"
            units.append(f"{ESTATE},5栋,{number},80.00,业主{number},13800003333")
            charges.append(f"{ESTATE},5栋,{number},2026-03,物业管理费,100.00,2026-03-31")
    for kind, rows in (("units", units), ("charges", charges)):
        assert cli("import", kind, write_csv(f"{kind}5.csv", "\n".join(rows) + "\n")).exit_code == 0
    sheet, _serial = make_sheet(estate.id, building_ids("5栋"), TODAY, "clerk")
    reader = PdfReader(io.BytesIO(read_file(sheet.sha256)))
    assert len(reader.pages) >= 3
    for page in reader.pages:
        text = page.extract_text().replace(" ", "")
        # every block on the page has its owner, its amount and its signature line together
        assert text.count("业主业主") == text.count("外访人签名"), text


# -- outcomes ----------------------------------------------------------------------------------------

@pytest.fixture
def sheet(estate):
    made, _serial = make_sheet(estate.id, building_ids("3栋"), TODAY, "clerk")
    return made


def position_of(sheet, number):
    return next(i.position for i in sheet.items if i.unit_id == unit_id(number))


def test_outcomes_record_contacts_and_promises(sheet, clock):
    clock.move_to(datetime(2026, 5, 31, 18, 0, tzinfo=SHANGHAI))
    rows = [OutcomeRow(position_of(sheet, "1201"), reached="owner", outcome="答应月底前缴清",
                       promise_amount="300.00", promise_on="2026-06-30", reason="away"),
            OutcomeRow(position_of(sheet, "0305"), reached="nobody", visited_at="15:10"),
            OutcomeRow(position_of(sheet, "12A"))]  # left blank: skipped
    done = record_outcomes(sheet, rows, "clerk", default_time="14:30", nobody_outcome="无人应门")
    assert len(done["recorded"]) == 2
    contacts = {c.unit_id: c for c in db.session.execute(select(Contact).where(Contact.channel == "visit",
                                                                              Contact.staff == "clerk"))
                .scalars()}
    owner = contacts[unit_id("1201")]
    assert (owner.reached, owner.outcome, owner.reason) == ("owner", "答应月底前缴清", "away")
    local = owner.contacted_at.replace(tzinfo=owner.contacted_at.tzinfo or ZoneInfo("UTC")).astimezone(SHANGHAI)
    assert (local.hour, local.minute) == (14, 30)
    nobody = contacts[unit_id("0305")]
    assert nobody.outcome == "无人应门"
    assert nobody.contacted_at.replace(tzinfo=nobody.contacted_at.tzinfo or ZoneInfo("UTC")).astimezone(
        SHANGHAI).hour == 15
    promise = db.session.execute(select(Promise).where(Promise.unit_id == unit_id("1201"))).scalar_one()
    assert (promise.amount_fen, promise.promised_on, promise.made_on, promise.contact_id) == (
        30000, date(2026, 6, 30), TODAY, owner.id)
    assert unit_id("12A") not in contacts
    summary = db.session.execute(select(EvidenceEvent).where(EvidenceEvent.kind == "visit_outcomes_recorded")
                                 ).scalar_one()
    assert [r["contact_id"] for r in json.loads(summary.data)["rows"]] == [owner.id, nobody.id]


def test_one_bad_row_records_nothing_and_every_problem_is_named(sheet, clock):
    clock.move_to(datetime(2026, 5, 31, 18, 0, tzinfo=SHANGHAI))
    before = (count(Contact), count(Promise), count(EvidenceEvent))
    rows = [OutcomeRow(position_of(sheet, "1201"), reached="owner", outcome="ok", promise_amount="100",
                       promise_on="2026-06-30"),
            OutcomeRow(position_of(sheet, "0305"), reached="owner", outcome="ok", promise_amount="100",
                       promise_on="2026-05-01"),
            OutcomeRow(position_of(sheet, "0902"), reached="owner", outcome="", promise_amount="abc",
                       promise_on="2026-06-30"),
            OutcomeRow(position_of(sheet, "12A"), reached="household_member", outcome="ok"),
            OutcomeRow(position_of(sheet, "商铺3"), reached="owner", outcome="ok", visited_at="25:99")]
    with pytest.raises(OutcomesRefused) as refused:
        record_outcomes(sheet, rows, "clerk", default_time="14:30")
    found = {(p.position, p.code) for p in refused.value.problems}
    assert found == {(position_of(sheet, "0305"), "promise_before_visit"),
                     (position_of(sheet, "0902"), "empty_outcome"), (position_of(sheet, "0902"), "bad_amount"),
                     (position_of(sheet, "12A"), "no_members"), (position_of(sheet, "商铺3"), "bad_time")}
    assert f"row {position_of(sheet, '0305')} ({ESTATE}/3栋/0305): the promised date 2026-05-01 is before the " \
           "visit (2026-05-31)" in str(refused.value)
    assert (count(Contact), count(Promise), count(EvidenceEvent)) == before


def test_a_visit_breaking_the_policy_needs_a_justification(sheet, clock):
    clock.move_to(datetime(2026, 5, 31, 23, 0, tzinfo=SHANGHAI))
    before = (count(Contact), count(EvidenceEvent))
    rows = [OutcomeRow(position_of(sheet, "B1-02"), reached="owner", outcome="ok", visited_at="10:00"),
            OutcomeRow(position_of(sheet, "1201"), reached="owner", outcome="ok", visited_at="21:30")]
    with pytest.raises(OutcomesRefused) as refused:
        record_outcomes(sheet, rows, "clerk")
    [problem] = refused.value.problems
    assert (problem.position, problem.field, problem.code, problem.values["breaches"]) == (
        position_of(sheet, "1201"), "justification", "policy", ["quiet_hours"])
    assert (count(Contact), count(EvidenceEvent)) == before
    rows[1] = OutcomeRow(position_of(sheet, "1201"), reached="owner", outcome="ok", visited_at="21:30",
                         justification="业主约定晚上见面")
    done = record_outcomes(sheet, rows, "clerk")
    assert [c.policy_breach for _p, c, _pr in done["recorded"]] == [False, True]


def test_a_row_refused_inside_the_transaction_undoes_the_rows_before_it(sheet, clock):
    """The promise more than a year ahead is refused by record_promise itself, after the
    contacts of both rows were written: one outer transaction, so none of them stays."""
    clock.move_to(datetime(2026, 5, 31, 18, 0, tzinfo=SHANGHAI))
    before = (count(Contact), count(Promise), count(EvidenceEvent))
    rows = [OutcomeRow(position_of(sheet, "B1-02"), reached="owner", outcome="ok", promise_amount="10",
                       promise_on="2026-06-10"),
            OutcomeRow(position_of(sheet, "1201"), reached="owner", outcome="ok", promise_amount="10",
                       promise_on="2027-12-31")]
    with pytest.raises(OutcomesRefused) as refused:
        record_outcomes(sheet, rows, "clerk", default_time="14:00")
    assert [(p.position, p.field, p.code) for p in refused.value.problems] == [
        (position_of(sheet, "1201"), "promise_on", "promise_too_far")]
    assert (count(Contact), count(Promise), count(EvidenceEvent)) == before


def test_a_second_submission_does_not_record_twice(sheet, clock):
    clock.move_to(datetime(2026, 5, 31, 18, 0, tzinfo=SHANGHAI))
    rows = [OutcomeRow(position_of(sheet, "1201"), reached="owner", outcome="ok", promise_amount="50",
                       promise_on="2026-06-05")]
    record_outcomes(sheet, rows, "clerk", default_time="14:30")
    again = record_outcomes(sheet, rows + [OutcomeRow(position_of(sheet, "0305"), reached="nobody")], "clerk",
                            default_time="14:30")
    assert again["skipped"] == [position_of(sheet, "1201")] and len(again["recorded"]) == 1
    assert db.session.execute(select(func.count()).select_from(Contact)
                              .where(Contact.unit_id == unit_id("1201"))).scalar_one() == 1
    assert count(Promise) == 2  # 0801's from the fixture and 1201's, once


def test_visit_time_in_the_future_and_missing_time(sheet):
    rows = [OutcomeRow(position_of(sheet, "1201"), reached="owner", outcome="ok", visited_at="16:00"),
            OutcomeRow(position_of(sheet, "0305"), reached="owner", outcome="ok")]
    with pytest.raises(OutcomesRefused) as refused:
        record_outcomes(sheet, rows, "clerk")
    assert {(p.position, p.field, p.code) for p in refused.value.problems} == {
        (position_of(sheet, "1201"), "visited_at", "future_time"),
        (position_of(sheet, "0305"), "visited_at", "time_missing")}
    with pytest.raises(VisitRefused):
        record_outcomes(sheet, rows, "clerk", default_time="noon")


def test_printing_a_sheet_keeps_the_day_figures(estate):
    """The printing event names no unit and changes no figures: the list is not recomputed."""
    from arrears.services.reports import day_figures
    day_figures(TODAY)
    make_sheet(estate.id, building_ids("3栋"), TODAY, "clerk")
    assert day_figures(TODAY).how == "kept"


def test_the_sheet_can_be_printed_in_english(estate):
    sheet, _serial = make_sheet(estate.id, building_ids("10栋"), TODAY, "clerk", language="en")
    compact = pdf_text(read_file(sheet.sha256)).replace(" ", "").replace("\n", "")
    assert "Visitsheet" in compact and "Demand" in compact and "周十" in compact and "floor1" in compact
    with pytest.raises(VisitRefused) as refused:
        make_sheet(estate.id, building_ids("10栋"), TODAY, "clerk", language="fr")
    assert refused.value.code == "bad_language"
