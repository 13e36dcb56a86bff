"""CSV and XLSX imports through the command line (SPEC §10), all or nothing.

Invariants checked here: a file with any bad row imports nothing (no row in any table,
no evidence event), exits 1 and prints every bad row as ``line N: reason`` with the
header counted as line 1, each on its own line of standard error, followed by one
summary line; a good file prints how many rows it added. XLSX files with the same
columns give the same statement as CSV; a byte-order mark is allowed; GBK is not.
"""
import json
import re
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import select, text

from arrears.extensions import db
from arrears.models import Building, Estate, FeeItem, HardshipStatus, Unit, Waiver

REF_1201 = "示例花园/3栋/1201"
REF_1202 = "示例花园/3栋/1202"
METHODS = "cash, bank_transfer, wechat, alipay, bank_deduction, other"

UNITS_CSV = """estate,building,unit,area_m2,owner_name,owner_phone
示例花园,3栋,1201,88.50,张三,13800001201
示例花园,3栋,1202,100.00,李四,
"""
CHARGES_CSV = """estate,building,unit,period,fee_item,amount,due_date
示例花园,3栋,1201,2026-01,物业管理费,300.00,2026-01-31
示例花园,3栋,1202,2026-01,物业管理费,300.00,2026-01-31
"""
PAYMENTS_HEADER = "estate,building,unit,amount,paid_on,method,reference\n"
CHARGES_HEADER = "estate,building,unit,period,fee_item,amount,due_date\n"
HARDSHIP_HEADER = "estate,building,unit,start,end,reason,requested_by,approved_by\n"
WAIVERS_HEADER = "estate,building,unit,period,kind,amount,reason,requested_by,approved_by,approved_on\n"

COUNTED_TABLES = ("estates", "buildings", "units", "owners", "ownerships", "fee_items", "billing_runs",
                  "charges", "payments", "reversals", "waivers", "hardship_statuses", "users",
                  "evidence_events", "charge_balances", "unit_balances", "payment_allocations")


@pytest.fixture(autouse=True)
def today():
    """Every test here runs on 2026-11-23 in Shanghai (payments dated later are refused)."""
    with time_machine.travel(datetime(2026, 11, 23, 12, 0, tzinfo=ZoneInfo("Asia/Shanghai")), tick=True):
        yield date(2026, 11, 23)


def chain_count(cli):
    result = cli("verify-chain")
    assert result.exit_code == 0, result.output
    first, second = result.stdout.strip().split("\n")
    assert second == "records agree with their events"
    return int(re.match(r"evidence chain intact: (\d+) event\(s\); head (\d+) [0-9a-f]{16}$", first).group(1))


def snapshot_with(runner):
    from arrears.cli import arrears
    return snapshot(lambda *args: runner.invoke(arrears, list(args), catch_exceptions=False))


def snapshot(cli):
    """Row counts of every table plus the number of events ``verify-chain`` sees."""
    counts = {table: db.session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
              for table in COUNTED_TABLES}
    counts["verify-chain"] = chain_count(cli)
    db.session.rollback()
    return counts


@pytest.fixture
def imported(cli, write_csv):
    """Two units of 示例花园/3栋, each with a 300.00 charge for 2026-01 due 2026-01-31."""
    for kind, content in (("units", UNITS_CSV), ("charges", CHARGES_CSV)):
        result = cli("import", kind, write_csv(f"{kind}.csv", content))
        assert result.exit_code == 0, result.output


@pytest.fixture
def users(cli):
    for name, role in (("clerk1", "clerk"), ("mgr1", "manager"), ("mgr2", "manager")):
        result = cli("create-user", name, "--role", role, input="password123\n")
        assert result.exit_code == 0, result.output


def rejected(cli, kind, path, expected_lines):
    """Run an import that must be refused; check its exact report and that nothing changed."""
    before = snapshot(cli)
    result = cli("import", kind, path)
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    assert result.stderr.splitlines() == expected_lines + [
        f"nothing imported: {len(expected_lines)} bad row(s) in {path}"]
    assert snapshot(cli) == before
    return result


def statement(cli, ref, as_of):
    result = cli("statement", ref, "--as-of", as_of, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


# -- one test per kind of bad row; each file also holds good rows ---------------------------

def test_bad_date_names_its_line(cli, write_csv, imported):
    path = write_csv("payments.csv", PAYMENTS_HEADER +
                     "示例花园,3栋,1201,100.00,2026-03-02,wechat,P1\n"
                     "示例花园,3栋,1201,50.00,2026-02-30,cash,P2\n"
                     "示例花园,3栋,1202,20.00,2026-03-05,alipay,P3\n")
    rejected(cli, "payments", path, ["line 3: paid_on '2026-02-30' is not a date like 2026-01-31"])


def test_bad_due_date_in_charges_names_its_line(cli, write_csv, imported):
    path = write_csv("charges2.csv", CHARGES_HEADER +
                     "示例花园,3栋,1201,2026-02,物业管理费,300.00,2026-02-28\n"
                     "示例花园,3栋,1202,2026-02,物业管理费,300.00,28/02/2026\n")
    rejected(cli, "charges", path, ["line 3: due_date '28/02/2026' is not a date like 2026-01-31"])


def test_negative_amount_names_its_line(cli, write_csv, imported):
    path = write_csv("charges2.csv", CHARGES_HEADER +
                     "示例花园,3栋,1201,2026-02,物业管理费,300.00,2026-02-28\n"
                     "示例花园,3栋,1202,2026-02,物业管理费,-300.00,2026-02-28\n"
                     "示例花园,3栋,1201,2026-03,物业管理费,300.00,2026-03-31\n")
    rejected(cli, "charges", path, ["line 3: amount -300.00 is negative"])


def test_three_decimal_amount_names_its_line(cli, write_csv, imported):
    path = write_csv("payments.csv", PAYMENTS_HEADER +
                     "示例花园,3栋,1201,100.00,2026-03-02,wechat,P1\n"
                     "示例花园,3栋,1202,100.005,2026-03-02,wechat,P2\n")
    rejected(cli, "payments", path, ["line 3: amount 100.005 has more than two decimals"])


def test_unknown_unit_names_its_line(cli, write_csv, imported):
    path = write_csv("payments.csv", PAYMENTS_HEADER +
                     "示例花园,3栋,1201,100.00,2026-03-02,wechat,P1\n"
                     "示例花园,3栋,1202,100.00,2026-03-02,wechat,P2\n"
                     "示例花园,3栋,9999,100.00,2026-03-02,wechat,P3\n")
    rejected(cli, "payments", path, ["line 4: unknown unit 示例花园/3栋/9999"])


def test_missing_column_is_line_1(cli, write_csv, imported):
    path = write_csv("charges2.csv", "estate,building,unit,period,fee_item,amount\n"
                     "示例花园,3栋,1201,2026-02,物业管理费,300.00\n")
    rejected(cli, "charges", path, [
        "line 1: missing column(s) due_date; expected estate,building,unit,period,fee_item,amount,due_date"])


def test_unknown_method_names_its_line(cli, write_csv, imported):
    path = write_csv("payments.csv", PAYMENTS_HEADER +
                     "示例花园,3栋,1201,100.00,2026-03-02,paypal,P1\n"
                     "示例花园,3栋,1202,100.00,2026-03-02,wechat,P2\n")
    rejected(cli, "payments", path, [f"line 2: method 'paypal' is not one of {METHODS}"])


def test_duplicate_reference_within_the_file(cli, write_csv, imported):
    path = write_csv("payments.csv", PAYMENTS_HEADER +
                     "示例花园,3栋,1201,100.00,2026-03-02,wechat,P1\n"
                     "示例花园,3栋,1202,100.00,2026-03-02,wechat,P2\n"
                     "示例花园,3栋,1202,50.00,2026-03-09,cash,P1\n")
    rejected(cli, "payments", path, ["line 4: duplicate reference P1 (also on line 2)"])


def test_duplicate_reference_against_an_imported_payment(cli, write_csv, imported):
    first = write_csv("first.csv", PAYMENTS_HEADER + "示例花园,3栋,1201,100.00,2026-03-02,wechat,P1\n")
    assert cli("import", "payments", first).exit_code == 0
    existing = db.session.execute(text("SELECT id FROM payments WHERE reference = 'P1'")).scalar_one()
    second = write_csv("second.csv", PAYMENTS_HEADER +
                       "示例花园,3栋,1202,100.00,2026-03-02,wechat,P2\n"
                       "示例花园,3栋,1202,100.00,2026-03-03,cash,P1\n")
    rejected(cli, "payments", second, [f"line 3: duplicate reference P1: already posted as payment #{existing}"])


def test_gbk_file_is_refused_naming_the_first_non_utf8_line(cli, write_csv):
    # Lines 2 and 3 are plain ASCII, so they read the same in GBK and UTF-8; line 4 is not.
    content = ("estate,building,unit,area_m2,owner_name,owner_phone\n"
               "Garden,B1,0101,80.00,Zhang,13800000001\n"
               "Garden,B1,0102,80.00,Li,13800000002\n"
               "Garden,B1,0103,80.00,王五,13800000003\n")
    path = write_csv("units-gbk.csv", content, encoding="gbk")
    rejected(cli, "units", path, ["line 4: units-gbk.csv is not UTF-8 text; save it as 'CSV UTF-8' "
                                  "(GBK files from older Excel are not accepted)"])


@pytest.mark.parametrize("content", [b"", b"\n\n  \r\n"], ids=["zero-bytes", "blank-lines"])
def test_empty_file_is_refused(cli, write_csv, imported, content):
    path = write_csv("payments.csv", content)
    rejected(cli, "payments", path, ["line 1: payments.csv is empty; expected a header row"])


def test_a_file_holding_only_a_byte_order_mark_is_empty(runner, write_csv, imported):
    from arrears.cli import arrears
    path = write_csv("payments.csv", b"\xef\xbb\xbf")
    before = snapshot_with(runner)
    result = runner.invoke(arrears, ["import", "payments", path])  # exceptions caught: a traceback shows here
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == ["line 1: payments.csv is empty; expected a header row",
                                          f"nothing imported: 1 bad row(s) in {path}"]
    assert snapshot_with(runner) == before


def test_header_only_file_is_refused(cli, write_csv, imported):
    path = write_csv("payments.csv", PAYMENTS_HEADER)
    rejected(cli, "payments", path, ["line 2: payments.csv has a header but no rows"])


def test_every_bad_row_is_reported_with_its_own_line(cli, write_csv, imported):
    path = write_csv("payments.csv", PAYMENTS_HEADER +
                     "示例花园,3栋,1201,abc,2026-03-02,wechat,P1\n"        # 2 bad amount
                     "示例花园,3栋,1201,100.00,2026-03-02,wechat,P2\n"     # 3 good
                     "示例花园,3栋,1202,100.00,2026-03-02,wechat\n"        # 4 short row: no reference
                     "\n"                                                   # 5 blank: skipped, still counted
                     "示例花园,3栋,1202,100.00,2026-12-01,wechat,P3\n"     # 6 in the future
                     "示例花园,3栋,1202,1.00,2026-03-03,cash,P2\n"         # 7 duplicate of line 3
                     "示例花园,4栋,1202,1.00,2026-03-03,cash,P4\n")        # 8 unknown unit
    rejected(cli, "payments", path, [
        "line 2: amount 'abc' is not a number like 1234.50",
        "line 4: reference is empty",
        "line 6: paid_on 2026-12-01 is in the future",
        "line 7: duplicate reference P2 (also on line 3)",
        "line 8: unknown unit 示例花园/4栋/1202",
    ])


# -- good imports ------------------------------------------------------------------------

def test_good_import_prints_how_many_rows_it_added(cli, write_csv, imported):
    before = snapshot(cli)
    path = write_csv("payments.csv", PAYMENTS_HEADER +
                     "示例花园,3栋,1201,100.00,2026-03-02,wechat,P1\n"
                     "示例花园,3栋,1202,20.00,2026-03-05,alipay,P2\n"
                     "示例花园,3栋,1202,30.00,2026-03-06,cash,P3\n")
    result = cli("import", "payments", path)
    assert result.exit_code == 0, result.output
    assert result.stdout == f"imported 3 payments row(s) from {path}\n"
    after = snapshot(cli)
    assert after["payments"] == before["payments"] + 3
    # three payment_posted events and one import event
    assert after["verify-chain"] == before["verify-chain"] + 4
    assert statement(cli, REF_1202, "2026-11-23")["charges"][0]["principal_paid"] == "50.00"


def test_bom_prefixed_csv_imports(cli, write_csv):
    path = write_csv("units.csv", "\ufeff" + UNITS_CSV)
    result = cli("import", "units", path)
    assert result.exit_code == 0, result.output
    assert result.stdout == f"imported 2 units row(s) from {path}\n"
    path = write_csv("charges.csv", "\ufeff" + CHARGES_CSV)
    assert cli("import", "charges", path).exit_code == 0
    path = write_csv("payments.csv", "\ufeff" + PAYMENTS_HEADER + "示例花园,3栋,1201,100.00,2026-03-02,wechat,P1\n")
    assert cli("import", "payments", path).exit_code == 0
    document = statement(cli, REF_1201, "2026-11-23")
    # SPEC §10's worked figures: 30 days at 300.00 and 266 days at 200.00.
    assert document["totals"] == {"principal_outstanding": "200.00", "late_fee_outstanding": "62.20",
                                  "total_outstanding": "262.20"}


def test_crlf_csv_from_windows_imports(cli, write_csv, imported):
    path = write_csv("payments.csv", (PAYMENTS_HEADER + "示例花园,3栋,1201,100.00,2026-03-02,wechat,P1\n"
                                      "示例花园,3栋,1202,20.00,2026-03-05,alipay,P2\n").replace("\n", "\r\n"))
    result = cli("import", "payments", path)
    assert result.exit_code == 0, result.output
    assert result.stdout == f"imported 2 payments row(s) from {path}\n"
    assert db.session.execute(text("SELECT reference FROM payments ORDER BY reference")).scalars().all() == ["P1", "P2"]


def test_a_reference_is_unique_per_estate_not_across_estates(cli, write_csv):
    units = UNITS_CSV + "新城家园,A座,0808,66.06,王五,\n"
    assert cli("import", "units", write_csv("units.csv", units)).exit_code == 0
    assert cli("import", "charges", write_csv("charges.csv", CHARGES_CSV +
               "新城家园,A座,0808,2026-01,物业管理费,300.00,2026-01-31\n")).exit_code == 0
    path = write_csv("payments.csv", PAYMENTS_HEADER +
                     "示例花园,3栋,1201,100.00,2026-03-02,wechat,BANK-0001\n"
                     "新城家园,A座,0808,100.00,2026-03-02,wechat,BANK-0001\n")
    result = cli("import", "payments", path)
    assert result.exit_code == 0, result.output
    assert result.stdout == f"imported 2 payments row(s) from {path}\n"
    assert statement(cli, "新城家园/A座/0808", "2026-11-23")["charges"][0]["principal_paid"] == "100.00"


def test_units_import_creates_estates_and_buildings(cli, write_csv):
    path = write_csv("units.csv", "estate,building,unit,area_m2,owner_name,owner_phone\n"
                     "示例花园,3栋,1201,88.50,张三,13800001201\n"
                     "示例花园,5栋,0101,120.25,李四,\n"
                     "新城家园,A座,0808,66.06,王五,+86 138-0000-0000\n")
    result = cli("import", "units", path)
    assert result.exit_code == 0, result.output
    assert result.stdout == f"imported 3 units row(s) from {path}\n"
    estates = db.session.execute(select(Estate.name).order_by(Estate.name)).scalars().all()
    assert sorted(estates) == sorted(["示例花园", "新城家园"])
    buildings = db.session.execute(select(Estate.name, Building.name).join(Building.estate)).all()
    assert sorted(buildings) == sorted([("示例花园", "3栋"), ("示例花园", "5栋"), ("新城家园", "A座")])
    areas = {unit.ref: unit.area_centi_m2 for unit in db.session.execute(select(Unit)).scalars()}
    assert areas == {"示例花园/3栋/1201": 8850, "示例花园/5栋/0101": 12025, "新城家园/A座/0808": 6606}
    kinds = db.session.execute(text("SELECT kind, count(*) FROM evidence_events GROUP BY kind")).all()
    assert dict(kinds) == {"estate_created": 2, "policy_changed": 2, "building_created": 3,
                           "unit_created": 3, "import": 1}


def test_units_import_refuses_a_unit_that_exists(cli, write_csv, imported):
    path = write_csv("more-units.csv", "estate,building,unit,area_m2,owner_name,owner_phone\n"
                     "示例花园,3栋,1203,90.00,赵六,\n"
                     "示例花园,3栋,1201,88.50,张三,\n")
    rejected(cli, "units", path, ["line 3: unit 示例花园/3栋/1201 already exists"])


def test_charges_import_creates_the_fee_item(cli, write_csv):
    assert cli("import", "units", write_csv("units.csv", UNITS_CSV)).exit_code == 0
    assert db.session.execute(select(FeeItem)).scalars().all() == []
    path = write_csv("charges.csv", CHARGES_HEADER +
                     "示例花园,3栋,1201,2026-01,停车费,150.00,2026-01-31\n"
                     "示例花园,3栋,1202,2026-01,停车费,150.00,2026-01-31\n")
    result = cli("import", "charges", path)
    assert result.exit_code == 0, result.output
    assert result.stdout == f"imported 2 charges row(s) from {path}\n"
    items = db.session.execute(select(FeeItem)).scalars().all()
    assert [(item.estate.name, item.name, item.basis, item.price_fen) for item in items] == [
        ("示例花园", "停车费", "fixed", 15000)]
    assert statement(cli, REF_1202, "2026-01-31")["charges"][0]["fee_item"] == "停车费"


# -- XLSX -------------------------------------------------------------------------------

def write_xlsx(path, header, rows):
    from openpyxl import Workbook
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(list(header))
    for row in rows:
        sheet.append(list(row))
    workbook.save(path)
    return str(path)


def test_xlsx_import_gives_the_same_statement_as_csv(cli, write_csv, tmp_path):
    # The same history twice: once from CSV into 文本花园, once from XLSX into 表格花园.
    result = cli("import", "units", write_csv("units.csv", "estate,building,unit,area_m2,owner_name,owner_phone\n"
                                              "文本花园,3栋,1201,88.50,张三,13800001201\n"))
    assert result.exit_code == 0, result.output
    assert cli("import", "charges", write_csv("charges.csv", CHARGES_HEADER +
               "文本花园,3栋,1201,2026-01,物业管理费,300.00,2026-01-31\n"
               "文本花园,3栋,1201,2026-02,物业管理费,300.50,2026-02-28\n")).exit_code == 0
    assert cli("import", "payments", write_csv("payments.csv", PAYMENTS_HEADER +
               "文本花园,3栋,1201,100.00,2026-03-02,wechat,T1\n"
               "文本花园,3栋,1201,250.75,2026-05-20,cash,T2\n")).exit_code == 0

    units = write_xlsx(tmp_path / "units.xlsx", ("estate", "building", "unit", "area_m2", "owner_name", "owner_phone"),
                       [("表格花园", "3栋", "1201", 88.5, "张三", "13800001201")])
    charges = write_xlsx(tmp_path / "charges.xlsx", CHARGES_HEADER.strip().split(","), [
        ("表格花园", "3栋", "1201", "2026-01", "物业管理费", 300, date(2026, 1, 31)),       # real Excel date
        ("表格花园", "3栋", "1201", "2026-02", "物业管理费", 300.5, "2026-02-28"),          # date as text
    ])
    payments = write_xlsx(tmp_path / "payments.xlsx", PAYMENTS_HEADER.strip().split(","), [
        ("表格花园", "3栋", "1201", 100, datetime(2026, 3, 2), "wechat", "T1"),
        ("表格花园", "3栋", "1201", 250.75, "2026-05-20", "cash", "T2"),
    ])
    for kind, path, count in (("units", units, 1), ("charges", charges, 2), ("payments", payments, 2)):
        result = cli("import", kind, path)
        assert result.exit_code == 0, result.output
        assert result.stdout == f"imported {count} {kind} row(s) from {path}\n"

    from_csv = statement(cli, "文本花园/3栋/1201", "2026-11-23")
    from_xlsx = statement(cli, "表格花园/3栋/1201", "2026-11-23")
    assert from_csv.pop("unit") == "文本花园/3栋/1201"
    assert from_xlsx.pop("unit") == "表格花园/3栋/1201"
    assert from_xlsx == from_csv
    assert [line["amount"] for line in from_xlsx["charges"]] == ["300.00", "300.50"]
    assert from_xlsx["totals"]["principal_outstanding"] == "249.75"


def test_xlsx_bad_rows_are_reported_by_line(cli, tmp_path, imported):
    path = write_xlsx(tmp_path / "payments.xlsx", PAYMENTS_HEADER.strip().split(","), [
        ("示例花园", "3栋", "1201", 100, date(2026, 3, 2), "wechat", "X1"),
        ("示例花园", "3栋", "1201", 1.005, date(2026, 3, 2), "wechat", "X2"),
        ("示例花园", "3栋", "1201", 5, "2026/03/02", "wechat", "X3"),
    ])
    rejected(cli, "payments", path, ["line 3: amount 1.005 has more than two decimals",
                                     "line 4: paid_on '2026/03/02' is not a date like 2026-01-31"])


# -- hardship and waivers ------------------------------------------------------------------

def test_hardship_import_checks_requester_and_approver(cli, write_csv, imported, users):
    path = write_csv("hardship.csv", HARDSHIP_HEADER +
                     "示例花园,3栋,1201,2026-03-01,2026-03-31,失业,clerk1,mgr1\n"   # good
                     "示例花园,3栋,1202,2026-03-01,2026-03-31,失业,mgr1,clerk1\n"   # approver a clerk
                     "示例花园,3栋,1202,2026-03-01,2026-03-31,失业,mgr1,mgr1\n"     # approves own request
                     "示例花园,3栋,1202,2026-03-01,2026-03-31,失业,ghost,mgr2\n"    # no such requester
                     "示例花园,3栋,1202,2026-03-31,2026-03-01,失业,clerk1,mgr2\n")  # end before start
    rejected(cli, "hardship", path, [
        "line 3: approved_by 'clerk1' is a clerk, not a manager",
        "line 4: approved_by 'mgr1' may not approve their own request",
        "line 5: requested_by 'ghost' is not a user",
        "line 6: end 2026-03-01 is before start 2026-03-31",
    ])


def test_hardship_suspends_exactly_its_days(cli, write_csv, imported, users):
    path = write_csv("hardship.csv", HARDSHIP_HEADER +
                     "示例花园,3栋,1201,2026-03-01,2026-03-31,失业,clerk1,mgr1\n")
    result = cli("import", "hardship", path)
    assert result.exit_code == 0, result.output
    assert result.stdout == f"imported 1 hardship row(s) from {path}\n"
    # 300.00 due 2026-01-31, nothing paid, as of 2026-04-30: accrual days are
    # 2026-02-01..2026-04-30 = 28 + 31 + 30 = 89 days; hardship suspends 2026-03-01..31
    # inclusive = 31 days; 58 days × 0.001 × 300.00 = 17.40 (0.30 more if either end
    # of the period were left out).
    line = statement(cli, REF_1201, "2026-04-30")["charges"][0]
    assert (line["days_overdue"], line["late_fee_accrued"], line["late_fee_outstanding"]) == (89, "17.40", "17.40")
    # The neighbour without hardship: 89 × 0.30 = 26.70.
    assert statement(cli, REF_1202, "2026-04-30")["charges"][0]["late_fee_accrued"] == "26.70"
    # On the hardship's first and last days nothing was added: 28 days × 0.30 = 8.40.
    assert statement(cli, REF_1201, "2026-03-01")["charges"][0]["late_fee_accrued"] == "8.40"
    assert statement(cli, REF_1201, "2026-03-31")["charges"][0]["late_fee_accrued"] == "8.40"
    assert statement(cli, REF_1201, "2026-04-01")["charges"][0]["late_fee_accrued"] == "8.70"
    status = db.session.execute(select(HardshipStatus)).scalar_one()
    assert (status.requested_by, status.approved_by) == ("clerk1", "mgr1")
    assert "失业" not in status.reason_encrypted  # encrypted at rest (SPEC §9)
    event = db.session.execute(text("SELECT unit, data FROM evidence_events WHERE kind = 'hardship_approved'")).one()
    assert event.unit == REF_1201
    assert json.loads(event.data) == {"hardship_id": status.id, "start": "2026-03-01", "end": "2026-03-31",
                                      "requested_by": "clerk1", "approved_by": "mgr1", "via": "import"}


@pytest.fixture
def paid(cli, write_csv, imported):
    """SPEC §10's example on 1201: 100.00 paid on 2026-03-02 against 300.00 due 2026-01-31."""
    path = write_csv("payments.csv", PAYMENTS_HEADER + "示例花园,3栋,1201,100.00,2026-03-02,wechat,WX-0001\n")
    assert cli("import", "payments", path).exit_code == 0


def test_waiver_above_what_is_outstanding_is_refused(cli, write_csv, paid, users):
    # On 2026-03-02: principal 200.00 outstanding; late fee 2026-02-01..03-02 = 30 days × 0.30 = 9.00.
    path = write_csv("waivers.csv", WAIVERS_HEADER +
                     "示例花园,3栋,1201,2026-01,late_fee,9.00,hardship,clerk1,mgr1,2026-03-02\n"      # good: all of it
                     "示例花园,3栋,1202,2026-01,late_fee,9.01,hardship,clerk1,mgr1,2026-03-02\n"      # 1202 owes 9.00 too
                     "示例花园,3栋,1201,2026-01,principal,200.01,other,clerk1,mgr1,2026-03-02\n"
                     "示例花园,3栋,1201,2026-01,late_fee,0.01,other,clerk1,mgr1,2026-03-02\n"  # line 2 waived it all
                     "示例花园,3栋,1201,2026-05,late_fee,1.00,other,clerk1,mgr1,2026-06-01\n"
                     "示例花园,3栋,1201,2026-01,late_fee,1.00,other,clerk1,clerk1,2026-06-01\n"
                     "示例花园,3栋,1201,2026-01,late_fee,1.00,because,clerk1,mgr2,2026-06-01\n"
                     "示例花园,3栋,1201,2026-01,interest,1.00,other,clerk1,mgr2,2026-06-01\n")
    rejected(cli, "waivers", path, [
        "line 3: amount 9.01 exceeds the late fee outstanding on 2026-03-02 (9.00)",
        "line 4: amount 200.01 exceeds the principal outstanding on 2026-03-02 (200.00)",
        "line 5: amount 0.01 exceeds the late fee outstanding on 2026-03-02 (0.00)",
        "line 6: 示例花园/3栋/1201 has no charge for period 2026-05",
        "line 7: approved_by 'clerk1' is a clerk, not a manager",
        "line 8: reason 'because' is not one of hardship, non_malicious, dispute_settlement, other",
        "line 9: kind 'interest' is not one of late_fee, principal",
    ])


def test_waivers_show_in_the_statement_with_exact_figures(cli, write_csv, paid, users):
    path = write_csv("waivers.csv", WAIVERS_HEADER +
                     "示例花园,3栋,1201,2026-01,late_fee,5.00,hardship,clerk1,mgr1,2026-03-02\n"
                     "示例花园,3栋,1201,2026-01,principal,50.00,non_malicious,clerk1,mgr2,2026-06-30\n")
    result = cli("import", "waivers", path)
    assert result.exit_code == 0, result.output
    assert result.stdout == f"imported 2 waivers row(s) from {path}\n"
    # Late fee: 2026-02-01..03-02 at 300.00 = 30 × 0.30 = 9.00; 03-03..06-30 at 200.00 =
    # 120 × 0.20 = 24.00; the principal waiver counts from the day after it, 07-01..11-23
    # at 150.00 = 146 × 0.15 = 21.90; accrued 54.90, waived 5.00, outstanding 49.90.
    line = statement(cli, REF_1201, "2026-11-23")["charges"][0]
    assert {key: line[key] for key in ("principal_paid", "principal_waived", "principal_outstanding",
                                       "late_fee_accrued", "late_fee_waived", "late_fee_outstanding")} == {
        "principal_paid": "100.00", "principal_waived": "50.00", "principal_outstanding": "150.00",
        "late_fee_accrued": "54.90", "late_fee_waived": "5.00", "late_fee_outstanding": "49.90"}
    waivers = db.session.execute(select(Waiver).order_by(Waiver.id)).scalars().all()
    assert [(w.kind, w.amount_fen, w.requested_by, w.approved_by, w.approved_on) for w in waivers] == [
        ("late_fee", 500, "clerk1", "mgr1", date(2026, 3, 2)),
        ("principal", 5000, "clerk1", "mgr2", date(2026, 6, 30))]
    events = db.session.execute(text("SELECT unit, data FROM evidence_events WHERE kind = 'waiver_approved' "
                                     "ORDER BY seq")).all()
    assert [(e.unit, json.loads(e.data)["amount"]) for e in events] == [(REF_1201, "5.00"), (REF_1201, "50.00")]


def test_several_waivers_in_one_file_add_up_against_the_outstanding(cli, write_csv, paid, users):
    # 9.00 late fee outstanding on 2026-03-02: 5.00 + 4.00 fits, a further 0.01 does not.
    path = write_csv("waivers.csv", WAIVERS_HEADER +
                     "示例花园,3栋,1201,2026-01,late_fee,5.00,hardship,clerk1,mgr1,2026-03-02\n"
                     "示例花园,3栋,1201,2026-01,late_fee,4.00,hardship,clerk1,mgr1,2026-03-02\n"
                     "示例花园,3栋,1201,2026-01,late_fee,0.01,hardship,clerk1,mgr1,2026-03-02\n")
    rejected(cli, "waivers", path, ["line 4: amount 0.01 exceeds the late fee outstanding on 2026-03-02 (0.00)"])


def test_a_damaged_xlsx_is_refused_at_line_1(cli, write_csv):
    """A file that starts like a ZIP (as XLSX files do) but is not a workbook."""
    path = write_csv("payments.xlsx", b"PK\x03\x04 this is not really a workbook")
    before = cli("verify-chain").output
    result = cli("import", "payments", path)
    assert result.exit_code == 1
    assert result.stderr.startswith("line 1: payments.xlsx is not a readable XLSX workbook (")
    assert "nothing imported: 1 bad row(s)" in result.stderr
    assert cli("verify-chain").output == before
