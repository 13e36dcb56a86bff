"""The five worked histories of shared/examples/ledger, end to end through the command line:
import units, charges and payments, then ``statement --json`` equals expected.json exactly."""
import json
import os

import pytest

UNITS = ["0101", "0102", "0103", "0104", "0105"]


@pytest.fixture
def imported(cli, examples_dir):
    for kind in ("units", "charges", "payments"):
        result = cli("import", kind, os.path.join(examples_dir, f"{kind}.csv"))
        assert result.exit_code == 0, result.output
    with open(os.path.join(examples_dir, "expected.json"), encoding="utf-8") as handle:
        return json.load(handle)


@pytest.mark.parametrize("number", UNITS)
def test_statement_json_matches_the_worked_example(cli, imported, number):
    ref = f"示例花园/1栋/{number}"
    result = cli("statement", ref, "--as-of", "2026-05-31", "--json")
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    expected = dict(imported[ref])
    expected.pop("note")
    assert printed == expected


def test_statement_json_key_order_follows_the_spec(cli, imported):
    result = cli("statement", "示例花园/1栋/0104", "--as-of", "2026-05-31", "--json")
    document = json.loads(result.output)
    assert list(document) == ["unit", "as_of", "currency", "charges", "credit", "totals"]
    assert list(document["charges"][1]) == [
        "period", "fee_item", "due_date", "amount", "principal_paid", "principal_waived",
        "principal_outstanding", "days_overdue", "late_fee_accrued", "late_fee_waived", "late_fee_paid",
        "late_fee_outstanding", "limitation_expires"]
    assert result.output.count("\n") == 1  # exactly one JSON object on one line


def test_fast_report_equals_the_engine_on_the_examples(cli, imported):
    result = cli("check-balances", "--as-of", "2026-05-31")
    assert result.exit_code == 0, result.output
    report = cli("report", "--as-of", "2026-05-31")
    assert "principal 303.00, late fee 232.43" in report.output


def test_unknown_unit_and_bad_date_are_clear_errors(cli, imported):
    result = cli("statement", "示例花园/1栋/9999", "--as-of", "2026-05-31")
    assert result.exit_code == 1
    assert "unit 示例花园/1栋/9999 does not exist" in result.output
    result = cli("statement", "示例花园/1栋/0101", "--as-of", "2026-13-01")
    assert result.exit_code == 2
    assert "is not a date like" in result.output
    result = cli("statement", "no-slashes", "--as-of", "2026-05-31")
    assert result.exit_code == 1 and "must look like" in result.output
