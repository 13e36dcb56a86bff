"""A service's refusal is shown in the user's language (Chinese by default, English when
chosen), while ``str(error)`` stays the English sentence the command line prints.

The services raise ``ServiceError`` with a literal English msgid and its values; the
catalog extracts the msgid (``arrears/translations/build.py``) and ``arrears.web.refusals``
translates it on the screen. The household (notice_helpers): 3栋/1201 owes 200.00 of
2026-01 and 300.00 of 2026-04 as of 2026-05-31; 3栋/1202 owes nothing.
"""
import ast
import glob
import os
from datetime import date

from sqlalchemy import select

from arrears.extensions import db
from arrears.models import Charge, Unit
from conftest import csrf_from
from notice_helpers import clock, count, household  # noqa: F401  (fixtures)

SERVICES = os.path.join(os.path.dirname(__file__), "..", "..", "arrears", "services")


# -- the sources: no f-string refusals, every literal extracted ------------------------------------

def _service_trees():
    return {os.path.basename(path): ast.parse(open(path, encoding="utf-8").read())
            for path in sorted(glob.glob(os.path.join(SERVICES, "*.py")))}


def _refusal_classes(trees):
    """Every ``ServiceError`` subclass defined in the services (by its bases, transitively)."""
    names, grown = {"ServiceError"}, True
    while grown:
        grown = False
        for tree in trees.values():
            for node in ast.walk(tree):
                if isinstance(node, ast.ClassDef) and node.name not in names and any(
                        getattr(base, "id", getattr(base, "attr", None)) in names for base in node.bases):
                    names.add(node.name)
                    grown = True
    return names


def _raised(trees, names):
    """``(file, line, class name, first argument)`` of every ``raise X(...)`` of a refusal class."""
    found = []
    for filename, tree in trees.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
                name = getattr(node.exc.func, "id", getattr(node.exc.func, "attr", None))
                if name in names:
                    found.append((filename, node.lineno, name, node.exc.args[0] if node.exc.args else None))
    return found


def _passed_up(trees, names):
    """``(file, line, first argument)`` of every ``super().__init__(...)`` in a refusal class."""
    found = []
    for filename, tree in trees.items():
        for cls in ast.walk(tree):
            if not (isinstance(cls, ast.ClassDef) and cls.name in names):
                continue
            for node in ast.walk(cls):
                if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                        and node.func.attr == "__init__" and isinstance(node.func.value, ast.Call)
                        and getattr(node.func.value.func, "id", None) == "super"):
                    found.append((filename, node.lineno, node.args[0] if node.args else None))
    return found


def test_no_refusal_is_raised_with_an_f_string():
    trees = _service_trees()
    names = _refusal_classes(trees)
    assert {"NotFound", "InvalidAct", "VisitRefused", "NotAllowed"} <= names
    offenders = [f"{filename}:{line} {name}" for filename, line, name, first in _raised(trees, names)
                 if isinstance(first, ast.JoinedStr)]
    offenders += [f"{filename}:{line} super().__init__" for filename, line, first in _passed_up(trees, names)
                  if isinstance(first, ast.JoinedStr)]
    assert offenders == [], "f-strings cannot be translated: pass a msgid with %(name)s and the values"


def test_every_literal_refusal_is_extracted_for_translation():
    from arrears.translations.build import KEYWORDS, extracted
    trees = _service_trees()
    names = _refusal_classes(trees)
    literal = [(f, line, name, first.value) for f, line, name, first in _raised(trees, names)
               if isinstance(first, ast.Constant) and isinstance(first.value, str)]
    assert len(literal) > 100
    assert sorted({name for _f, _l, name, _m in literal} - set(KEYWORDS)) == []
    # A subclass passes a literal up only marked with N_ (a bare literal would not be extracted).
    bare = [f"{f}:{line}" for f, line, first in _passed_up(trees, names)
            if isinstance(first, ast.Constant) and isinstance(first.value, str)]
    assert bare == []
    messages = extracted()
    assert [m for _f, _l, _n, m in literal if m not in messages] == []


def test_str_stays_english_and_the_message_keeps_its_values():
    from arrears.services.collection import InvalidAct
    from arrears.services.errors import DuplicatePayment, NotFound
    error = NotFound("user #%(id)s does not exist", id=7)
    assert str(error) == "user #7 does not exist"
    assert (error.message, error.params) == ("user #%(id)s does not exist", {"id": 7})
    duplicate = DuplicatePayment("WX0001", 3)
    assert str(duplicate) == "payment reference WX0001 is already posted (payment #3); not posted again"
    assert (duplicate.reference, duplicate.existing_id) == ("WX0001", 3)
    act = InvalidAct("the promised date %(day)s is before %(made)s", field="promised_on", code="promise_past",
                     day=date(2026, 5, 1), made=date(2026, 5, 31))
    assert str(act) == "the promised date 2026-05-01 is before 2026-05-31"
    assert (act.field, act.code) == ("promised_on", "promise_past")


def test_refusal_translates_the_msgid_and_fills_dates_as_the_screen_writes_them(app):
    from flask_babel import refresh

    from arrears.services.errors import NotFound, ServiceError
    from arrears.web.refusals import refusal
    refresh()
    error = ServiceError("the date %(day)s is in the future", day=date(2026, 6, 1))
    with app.test_request_context():
        assert refusal(error) == "日期 2026年6月1日 晚于今天"
        assert refusal(NotFound("you cannot deactivate yourself")) == "不能停用自己的账号"
        assert refusal(ValueError("not a service's")) == "not a service's"
    with app.test_request_context(headers={"Cookie": "lang=en"}):
        refresh()  # the locale is cached in the app context the fixture keeps
        assert refusal(error) == "the date 1 Jun 2026 is in the future"


# -- through the screens ----------------------------------------------------------------------------

def unit_id(number="1201"):
    return db.session.execute(select(Unit.id).where(Unit.number == number)).scalar_one()


def english(client, page="/"):
    html = client.get(page).get_data(as_text=True)
    response = client.post("/language/en", data={"csrf_token": csrf_from(html), "next": page})
    assert response.status_code == 302


def flashed(client, response):
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    return client.get(response.headers["Location"]).get_data(as_text=True)


def post_plan(client):
    page = client.get(f"/households/{unit_id()}").get_data(as_text=True)
    rows = [("2026-06-10", "166.66"), ("2026-07-10", "166.66"), ("2026-08-10", "166.68")]
    charges = db.session.execute(select(Charge.id).order_by(Charge.period)).scalars().all()
    data = {"csrf_token": csrf_from(page), "plan-charges": [str(c) for c in charges], "plan-count": "3",
            "plan-first_on": "2026-06-10", "plan-action": "save", "plan-note": ""}
    for index, (due_on, amount) in enumerate(rows):
        data[f"plan-instalments-{index}-due_on"] = due_on
        data[f"plan-instalments-{index}-amount"] = amount
    return client.post(f"/households/{unit_id()}/relief/plans", data=data)


PLAN_TAKEN_EN = "charges of 2026-01, 2026-04 are already in a plan in force or awaiting approval"
PLAN_TAKEN_ZH = "2026-01, 2026-04 的费用已在生效中或待审批的分期还款计划内"


def test_a_plan_over_charges_already_in_a_plan_is_refused_in_chinese(client, login, household):
    login("clerk")
    flashed(client, post_plan(client))
    again = post_plan(client)
    assert again.status_code == 422
    html = again.get_data(as_text=True)
    assert PLAN_TAKEN_ZH in html and PLAN_TAKEN_EN not in html
    assert count("payment_plans") == 1


def test_a_plan_over_charges_already_in_a_plan_is_refused_in_english(client, login, household):
    login("clerk")
    flashed(client, post_plan(client))
    english(client)
    html = post_plan(client).get_data(as_text=True)
    assert PLAN_TAKEN_EN in html and PLAN_TAKEN_ZH not in html


def issue_for(client, number):
    page = client.get(f"/households/{unit_id(number)}").get_data(as_text=True)
    return client.post(f"/households/{unit_id(number)}/notices", data={
        "csrf_token": csrf_from(page), "notice-kind": "reminder", "notice-language": "zh_CN"})


def test_a_notice_for_a_household_that_owes_nothing_is_refused_in_the_users_language(client, login, household):
    login("clerk")
    html = flashed(client, issue_for(client, "1202"))
    assert "未生成通知：截至 2026年5月31日，示例花园/3栋/1202 没有欠费；未生成通知书" in html
    assert "owes nothing" not in html
    english(client)
    html = flashed(client, issue_for(client, "1202"))
    assert "No notice issued: 示例花园/3栋/1202 owes nothing as of 31 May 2026; no notice issued" in html
    assert "没有欠费" not in html
    assert count("notices") == 0


def post_batch(client, stage="legal"):
    page = client.get("/notices/batches").get_data(as_text=True)
    return client.post("/notices/batches", data={"csrf_token": csrf_from(page), "batch-stage": stage,
                                                 "batch-kind": "final", "batch-language": "zh_CN"})


def test_a_batch_for_an_empty_stage_is_refused_with_the_stage_named_in_the_users_language(client, login,
                                                                                          household):
    login("clerk")
    response = post_batch(client)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "截至 2026年5月31日，没有处于“法务”催收阶段的住户；未生成批次" in html
    assert "no household is in stage" not in html
    english(client, "/notices/batches")
    html = post_batch(client).get_data(as_text=True)
    assert "no household is in stage Legal as of 31 May 2026; no batch made" in html
    assert "催收阶段" not in html
    assert count("notice_batches") == 0


def test_a_manager_approving_their_own_waiver_request_is_told_in_the_users_language(client, login, household):
    login("manager", "boss")
    page = client.get(f"/households/{unit_id()}").get_data(as_text=True)
    charge = db.session.execute(select(Charge.id).where(Charge.period == "2026-01")).scalar_one()
    flashed(client, client.post(f"/households/{unit_id()}/relief/waivers", data={
        "csrf_token": csrf_from(page), "waiver-charge": str(charge), "waiver-kind": "late_fee",
        "waiver-amount": "1.00", "waiver-reason": "non_malicious", "waiver-note": ""}))

    def approve():
        queue = client.get("/relief/").get_data(as_text=True)
        return flashed(client, client.post("/relief/decisions/waiver/1/approved", data={
            "csrf_token": csrf_from(queue), "decide-waiver-1-note": ""}))
    html = approve()
    assert "另一位主管" in html and "approve or reject their own request" not in html
    english(client, "/relief/")
    html = approve()
    assert "another manager must decide it" in html and "另一位主管" not in html
    assert count("decisions") == 0


def test_a_delivery_refused_by_the_service_is_said_in_the_users_language(client, login, household, monkeypatch):
    """The screen checks a delivery before the service does; when the service still refuses
    it (the checks passed a moment before), its problems are said in the screen's words."""
    import arrears.web.notices as screen
    login("clerk")
    flashed(client, issue_for(client, "1201"))
    monkeypatch.setattr(screen, "delivery_problems", lambda *args: [])

    def deliver():
        page = client.get("/notices/SL-2026-000001").get_data(as_text=True)
        return client.post("/notices/SL-2026-000001/deliveries", data={
            "csrf_token": csrf_from(page), "delivery-method": "registered_mail", "delivery-outcome": "delivered",
            "delivery-attempted_on": "2026-05-31", "delivery-signer": "", "delivery-relation": "",
            "delivery-tracking_no": "", "delivery-at_registered_address": "y", "delivery-note": ""},
            content_type="multipart/form-data")
    response = deliver()
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "挂号信须填写邮件单号。" in html
    assert "a registered letter needs its tracking number" not in html
    english(client, "/notices/SL-2026-000001")
    html = deliver().get_data(as_text=True)
    assert "A registered letter needs its tracking number." in html
    assert count("deliveries") == 0


# -- the command line keeps the English sentence ----------------------------------------------------

def test_the_command_line_prints_the_english_sentence(cli, household, tmp_path):
    result = cli("notice", "示例花园/3栋/1202", "--kind", "reminder", "-o", str(tmp_path / "n.pdf"))
    assert result.exit_code == 1
    assert result.stderr == "error: 示例花园/3栋/1202 owes nothing as of 2026-05-31; no notice issued\n"
    result = cli("pay", "示例花园/3栋/1201", "--amount", "10.00", "--method", "wechat", "--reference", "WX0001")
    assert result.output.startswith("payment reference WX0001 is already posted (payment #1); not posted again")
