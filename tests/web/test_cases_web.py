"""Legal cases in the browser (issue 6): the case section of the household page (steps
recorded by managers through the form, the case's order kept with a message in the page's
language), who sees and does what (clerks read, lawyers read their own households only
and export their bundle, nobody else's: 404), the evidence bundle's download, the weekly
limitation view by hand-computed weeks, and a walk over every state-changing route as a
lawyer. The clock stands at 2026-05-31 (a Sunday) in Shanghai."""
import io
import re
import zipfile
from datetime import date
from urllib.parse import unquote

import pytest
from sqlalchemy import func, select, text

from arrears.extensions import db
from arrears.models import BundleExport, CaseClaim, CaseStep, Charge, EvidenceEvent
from arrears.services.cases import record_step
from arrears.services.collection import escalate
from arrears.services.ledger import find_unit
from conftest import csrf_from
from household_helpers import Household, by_testid, clock, examples, ref  # noqa: F401

TODAY = "2026-05-31"


def count(model, *where):
    return db.session.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


@pytest.fixture
def lawyers(make_user):
    make_user("lawyer")
    make_user("lawyer", "lawyer2")


def in_legal(unit_id, lawyer=None):
    """Escalate the household to legal (and assign ``lawyer``) through the services."""
    from arrears.models import Unit
    unit = db.session.get(Unit, unit_id)
    escalate(unit, stage="legal", reason="unpaid for years", actor="manager")
    if lawyer:
        record_step(unit, "lawyer_assigned", date(2026, 5, 31), "manager", lawyer=lawyer)
    return unit


def charge_id(unit_id, period):
    return db.session.execute(select(Charge.id).where(Charge.unit_id == unit_id, Charge.period == period)).scalar_one()


def post_step(client, unit_id, **fields):
    """POST the step form (``kind=…``, ``on_date=…``, …) with the page's CSRF token."""
    html = Household(client, unit_id).page()
    data = {f"case-{name}": value for name, value in fields.items()}
    data.setdefault("case-on_date", TODAY)
    data["csrf_token"] = csrf_from(html)
    return client.post(f"/cases/{unit_id}/steps", data=data)


def steps_shown(html):
    return re.findall(r'data-testid="case-step" data-kind="(\w+)"', html)


def error(html, name):
    match = re.search(rf'data-testid="error-case-{name}">([^<]*)<', html)
    assert match, f"no message next to case-{name}"
    return match.group(1)


# -- recording steps -----------------------------------------------------------------------------

def test_a_manager_records_every_kind_of_step_through_the_form(client, login, examples, lawyers):
    unit_id = examples["0103"]
    login("manager")
    page = Household(client, unit_id)
    assert 'data-testid="case-none"' in page.page()
    assert page.post("escalation", {"escalate-stage": "legal", "escalate-reason": "unpaid since 2022"}
                     ).status_code == 302
    html = page.page()
    assert 'data-testid="case-empty"' in html and 'data-testid="case-step-form"' in html
    # Only what may start a case is offered.
    offered = re.findall(r'<option value="(\w+)"', html[html.index('data-testid="case-kind"'):].split("</select>")[0])
    assert offered == ["lawyer_assigned", "lawsuit_filed", "payment_order_filed", "settlement", "closed"]
    # The charges with principal outstanding, all ticked.
    june = charge_id(unit_id, "2022-06")
    assert re.search(rf'<input checked[^>]*value="{june}"|value="{june}"[^>]*checked', html)

    lawsuit = "(2026)沪0101民初88号"
    for fields in (
            {"kind": "lawyer_assigned", "lawyer": "lawyer", "on_date": "2026-03-01"},
            {"kind": "payment_order_filed", "court": "某区人民法院", "case_number": "(2026)沪0101民督12号",
             "charges": june, "amount": "200.00", "on_date": "2026-03-10"},
            {"kind": "lawsuit_filed", "court": "某区人民法院", "case_number": lawsuit, "charges": june,
             "amount": "236.50", "on_date": "2026-04-02"},
            {"kind": "hearing", "note": "第一次开庭", "on_date": "2026-05-06"},
            {"kind": "judgment", "amount": "230.00", "note": "支持诉请", "on_date": "2026-05-20"},
            {"kind": "enforcement", "on_date": "2026-05-25"},
            {"kind": "settlement", "amount": "220.00", "on_date": "2026-05-30"},
            {"kind": "closed", "note": "已履行"}):
        response = post_step(client, unit_id, **fields)
        assert response.status_code == 302, (fields["kind"], response.get_data(as_text=True)[-3000:])
        assert response.headers["Location"].endswith(f"/households/{unit_id}#case-steps")

    html = page.page()
    assert steps_shown(html) == ["lawyer_assigned", "payment_order_filed", "lawsuit_filed", "hearing", "judgment",
                                 "enforcement", "settlement", "closed"]
    row = re.search(r'data-kind="lawsuit_filed">(.*?)</tr>', html, re.S).group(1)
    for shown in ("2026年4月2日", "提起诉讼", "某区人民法院", lawsuit, "236.50", "2022-06"):
        assert shown in row, shown
    assert "lawyer" in re.search(r'data-kind="lawyer_assigned">(.*?)</tr>', html, re.S).group(1)
    assert 'data-testid="case-closed"' in html and 'data-testid="case-step-form"' not in html
    assert "已记录案件步骤：2026年5月31日 结案。" in html
    kinds = db.session.execute(select(EvidenceEvent.kind).where(EvidenceEvent.kind.like("case_%"))
                               .order_by(EvidenceEvent.seq)).scalars().all()
    assert kinds == ["case_lawyer_assigned", "case_payment_order_filed", "case_lawsuit_filed", "case_hearing",
                     "case_judgment", "case_enforcement", "case_settlement", "case_closed"]
    assert count(CaseClaim) == 2
    # The lawsuit restarted the claimed charge's limitation period from its date.
    assert by_testid(html, "next-limitation") == "2029年4月2日"


def test_the_escalation_form_assigns_the_lawyer_chosen(client, login, examples, lawyers):
    login("manager")
    page = Household(client, examples["0104"])
    html = page.page()
    assert '<option value="lawyer">lawyer</option>' in html and '<option value="lawyer2">lawyer2</option>' in html
    response = page.post("escalation", {"escalate-stage": "legal", "escalate-reason": "refuses",
                                        "escalate-lawyer": "lawyer2"})
    assert response.status_code == 302
    step = db.session.execute(select(CaseStep)).scalar_one()
    assert (step.kind, step.lawyer, step.on_date) == ("lawyer_assigned", "lawyer2", date(2026, 5, 31))
    assert steps_shown(page.page()) == ["lawyer_assigned"]


def test_steps_out_of_order_or_incomplete_are_refused_with_a_message(client, login, examples, lawyers):
    unit_id = examples["0104"]
    in_legal(unit_id)
    login("manager")
    response = post_step(client, unit_id, kind="judgment")
    assert response.status_code == 422
    assert error(response.get_data(as_text=True), "kind") == (
        "案件不能以“判决”开始；可以从以下步骤开始：指派律师, 提起诉讼, 申请支付令, 和解, 结案。")
    html = post_step(client, unit_id, kind="lawsuit_filed", court=" ", case_number="", amount="-5").get_data(
        as_text=True)
    assert error(html, "court") == "起诉或申请须填写法院。"
    assert error(html, "case_number") == "起诉或申请须填写案号。"
    assert error(html, "charges") == "请勾选本次起诉或申请所主张的费用。"
    assert error(html, "amount") == "金额不能为负数。"
    html = post_step(client, unit_id, kind="lawyer_assigned").get_data(as_text=True)
    assert error(html, "lawyer") == "请选择承办律师。"
    html = post_step(client, unit_id, kind="lawyer_assigned", lawyer="lawyer", on_date="2026-06-01").get_data(
        as_text=True)
    assert error(html, "on_date") == "日期 2026年6月1日 晚于今天。"
    html = post_step(client, unit_id, kind="lawyer_assigned", lawyer="somebody").get_data(as_text=True)
    assert error(html, "lawyer") == "请从列表中选择律师。"
    assert count(CaseStep) == 0

    assert post_step(client, unit_id, kind="lawsuit_filed", court="某区人民法院", case_number="A-1",
                     charges=charge_id(unit_id, "2026-03"), on_date="2026-05-20").status_code == 302
    html = post_step(client, unit_id, kind="payment_order_filed", court="某区人民法院", case_number="A-2",
                     charges=charge_id(unit_id, "2026-03")).get_data(as_text=True)
    assert error(html, "kind") == ("案件在“提起诉讼”之后不能进行“申请支付令”；可以进行：指派律师, 开庭, 判决, 和解, "
                                   "结案。")
    html = post_step(client, unit_id, kind="hearing", on_date="2026-05-19").get_data(as_text=True)
    assert error(html, "on_date") == "日期 2026年5月19日 早于案件上一步骤的日期（2026年5月20日）。"
    assert count(CaseStep) == 1

    # A household not in legal has no case to record.
    response = post_step(client, examples["0101"], kind="lawyer_assigned", lawyer="lawyer")
    assert response.status_code == 422 and "该住户未转交法务：请先转交法务，再记录案件。" in response.get_data(as_text=True)
    assert count(CaseStep) == 1


def test_english_messages(client, login, examples, lawyers):
    unit_id = examples["0104"]
    in_legal(unit_id)
    login("manager")
    html = Household(client, unit_id).page()
    client.post("/language/en", data={"csrf_token": csrf_from(html), "next": f"/households/{unit_id}"})
    html = post_step(client, unit_id, kind="judgment").get_data(as_text=True)
    assert error(html, "kind") == ("A case cannot start with “Judgment”; it can start with: Lawyer assigned, "
                                   "Lawsuit filed, Payment order applied for, Settlement, Case closed.")
    assert "Legal case" in html and "Record the next step" in html


# -- who sees and does what ------------------------------------------------------------------------

def test_a_clerk_reads_the_case_and_may_not_record_a_step(client, login, examples, lawyers):
    unit_id = examples["0104"]
    in_legal(unit_id, "lawyer")
    login("clerk")
    html = Household(client, unit_id).page()
    assert steps_shown(html) == ["lawyer_assigned"]
    assert 'data-testid="case-step-form"' not in html and 'data-testid="export-bundle"' not in html
    response = client.post(f"/cases/{unit_id}/steps", data={"csrf_token": csrf_from(html), "case-kind": "closed",
                                                           "case-on_date": TODAY})
    assert response.status_code == 403
    assert client.post(f"/cases/{unit_id}/bundle", data={"csrf_token": csrf_from(html)}).status_code == 403
    assert count(CaseStep) == 1 and count(BundleExport) == 0


def test_the_lawyer_reads_their_case_and_downloads_its_bundle(client, login, examples, lawyers):
    unit_id = examples["0104"]
    in_legal(unit_id, "lawyer")
    login("lawyer")
    html = Household(client, unit_id).page()
    assert steps_shown(html) == ["lawyer_assigned"]
    assert 'data-testid="case-step-form"' not in html and 'data-testid="export-bundle"' in html
    assert 'data-testid="pay-form"' not in html and 'data-testid="escalate-form"' not in html
    token = csrf_from(html)
    response = client.post(f"/cases/{unit_id}/steps", data={"csrf_token": token, "case-kind": "closed",
                                                           "case-on_date": TODAY})
    assert response.status_code == 403 and count(CaseStep) == 1

    response = client.post(f"/cases/{unit_id}/bundle", data={"csrf_token": token})
    assert response.status_code == 200 and response.mimetype == "application/zip"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert unquote(disposition.split("filename*=UTF-8''")[1]) == "示例花园-1栋-0104-证据包-2026-05-31.zip"
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    assert {"index.pdf", "manifest.json", "statement.csv", "events.jsonl"} <= set(archive.namelist())
    export = db.session.execute(select(BundleExport)).scalar_one()
    assert export.created_by == "lawyer" and response.headers["X-Bundle-SHA256"] == export.sha256
    # Theirs in the household list too, as the only one.
    listed = client.get("/households/").get_data(as_text=True)
    assert re.findall(r'data-testid="household-row"[^>]*data-unit-ref="([^"]+)"', listed) == [ref("0104")]


def test_another_lawyer_gets_404_everywhere(client, login, examples, lawyers):
    unit_id = examples["0104"]
    in_legal(unit_id, "lawyer")
    in_legal(examples["0103"])  # in legal with no lawyer: nobody's
    login("lawyer2")
    assert client.get(f"/households/{unit_id}").status_code == 404
    assert client.get(f"/households/{examples['0103']}").status_code == 404
    token = csrf_from(client.get("/").get_data(as_text=True))
    assert client.post(f"/cases/{unit_id}/bundle", data={"csrf_token": token}).status_code == 404
    assert count(BundleExport) == 0
    assert 'data-testid="household-row"' not in client.get("/households/").get_data(as_text=True)
    # Reassigned: the case is theirs now, and no longer the first lawyer's.
    record_step(find_unit(ref("0104")), "lawyer_assigned", date(2026, 5, 31), "manager", lawyer="lawyer2")
    assert client.get(f"/households/{unit_id}").status_code == 200
    login("lawyer")
    assert client.get(f"/households/{unit_id}").status_code == 404


def test_a_manager_downloads_the_bundle(client, login, examples):
    login("manager")
    html = Household(client, examples["0101"]).page()
    assert 'data-testid="export-bundle"' in html
    response = client.post(f"/cases/{examples['0101']}/bundle", data={"csrf_token": csrf_from(html)})
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    assert "filename*=UTF-8''" in response.headers["Content-Disposition"]
    assert count(EvidenceEvent, EvidenceEvent.kind == "bundle_exported") == 1


PUBLIC = ("auth.login", "auth.logout", "language.", "verify.", "static")


def test_a_lawyer_changes_nothing_on_any_route(app, client, login, examples, lawyers):
    """Every POST route but the bundle's export, with the lawyer's own household's ids: 403
    (or 404 where the object is not theirs), and not one row written anywhere."""
    from arrears.models import Delivery, Payment, Unit
    from arrears.services.notices import DeliveryInput, issue_notice, record_delivery
    unit_id = examples["0104"]
    unit = in_legal(unit_id, "lawyer")
    notice = issue_notice(unit, "demand", date(2026, 5, 31), "clerk")
    record_delivery(notice.serial, DeliveryInput(method="hand_signed", outcome="delivered",
                                                 attempted_on=date(2026, 5, 31), signer="业主0104",
                                                 relation="owner"), "clerk", ())
    ids = {"unit_id": unit_id, "serial": notice.serial, "code": notice.serial,
           "payment_id": db.session.execute(select(Payment.id).where(Payment.unit_id == unit_id)).scalar_one(),
           "delivery_id": db.session.execute(select(Delivery.id)).scalar_one()}
    assert db.session.get(Unit, unit_id) is not None
    login("lawyer")
    token = csrf_from(client.get(f"/households/{unit_id}").get_data(as_text=True))

    def table_counts():
        return {table.name: db.session.execute(text(f"SELECT count(*) FROM {table.name}")).scalar_one()
                for table in db.metadata.tables.values()}

    before = table_counts()
    walked = []
    for rule in app.url_map.iter_rules():
        if "POST" not in rule.methods or rule.endpoint.startswith(PUBLIC) or rule.endpoint == "cases.bundle":
            continue
        url = re.sub(r"<(?:(\w+):)?(\w+)>", lambda m: str(ids.get(m.group(2), 1)), rule.rule)
        response = client.post(url, data={"csrf_token": token})
        assert response.status_code in (403, 404), (rule.rule, response.status_code)
        walked.append(rule.endpoint)
    db.session.rollback()
    assert table_counts() == before
    for endpoint in ("household.pay", "household.escalation", "notices.deliver", "notices.receipt", "cases.record"):
        assert endpoint in walked
    # The one act a lawyer may do on their household (an evidence event of its own).
    assert client.post(f"/cases/{unit_id}/bundle", data={"csrf_token": token}).status_code == 200


def test_every_case_route_needs_a_login_and_the_posts_refuse_get(app, client, examples):
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("cases."):
            url = re.sub(r"<(?:\w+:)?\w+>", str(examples["0104"]), rule.rule)
            if "POST" in rule.methods:
                assert client.get(url).status_code == 405, url
            else:
                response = client.get(url)
                assert response.status_code == 302 and "/login" in response.headers["Location"], url


# -- the weekly limitation view --------------------------------------------------------------------

@pytest.fixture
def expiring(examples, cli, write_csv):
    """Households whose charges expire, worked by hand from 2026-05-31 (Sunday; its ISO week
    starts Monday 2026-05-25; 13 weeks end Sunday 2026-08-23):

        unit  due         interruption                 expires      week of
        0201  2023-05-31  —                            2026-05-31   2026-05-25 (today still counts)
        0202  2023-06-03  —                            2026-06-03   2026-06-01
        0203  2023-03-31  payment 2023-07-10           2026-07-10   2026-07-06
        0204  2023-08-23  —                            2026-08-23   2026-08-17 (the last week)
        0205  2023-08-24  —                            2026-08-24   (after the window)
        0206  2023-04-15  lawsuit filed 2023-06-20     2026-06-20   2026-06-15
        0103  2022-06-30  — (the worked example)       2025-06-30   already expired
    """
    units = ["estate,building,unit,area_m2,owner_name,owner_phone"]
    units += [f"示例花园,2栋,{n},80.00,业主{n},1370000{n}" for n in ("0201", "0202", "0203", "0204", "0205", "0206")]
    charges = ["estate,building,unit,period,fee_item,amount,due_date"]
    for number, period, due in (("0201", "2023-05", "2023-05-31"), ("0202", "2023-06", "2023-06-03"),
                                ("0203", "2023-03", "2023-03-31"), ("0204", "2023-08", "2023-08-23"),
                                ("0205", "2023-08", "2023-08-24"), ("0206", "2023-04", "2023-04-15")):
        charges.append(f"示例花园,2栋,{number},{period},物业管理费,300.00,{due}")
    payments = ["estate,building,unit,amount,paid_on,method,reference",
                "示例花园,2栋,0203,100.00,2023-07-10,cash,LIM-0203"]
    for kind, rows in (("units", units), ("charges", charges), ("payments", payments)):
        result = cli("import", kind, write_csv(f"lim-{kind}.csv", "\n".join(rows) + "\n"))
        assert result.exit_code == 0, result.output
    unit = find_unit("示例花园/2栋/0206")
    escalate(unit, stage="legal", reason="filed in 2023", actor="manager")
    record_step(unit, "lawsuit_filed", date(2023, 6, 20), "manager", court="某区人民法院", case_number="(2023)1号",
                charge_ids=(charge_id(unit.id, "2023-04"),))


def test_the_limitation_page_lists_the_charges_by_hand_computed_weeks(client, login, expiring):
    login("clerk")
    html = client.get("/").get_data(as_text=True)
    assert 'href="/cases/limitation">诉讼时效</a>' in html
    response = client.get("/cases/limitation")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    weeks = re.findall(r'data-testid="limitation-week" data-monday="([\d-]+)" data-count="(\d+)"', html)
    assert [monday for monday, _count in weeks] == [date.fromordinal(date(2026, 5, 25).toordinal() + 7 * n)
                                                      .isoformat() for n in range(13)]
    listed = {monday: int(n) for monday, n in weeks if int(n)}
    assert listed == {"2026-05-25": 1, "2026-06-01": 1, "2026-06-15": 1, "2026-07-06": 1, "2026-08-17": 1}
    items = re.findall(r'data-testid="limitation-item" data-ref="([^"]+)" data-period="([\d-]+)" '
                       r'data-expires="([\d-]+)"', html)
    expiring_part, expired_part = html.split('data-testid="limitation-expired"')
    assert [(r.split("/")[-1], e) for r, _p, e in re.findall(
        r'data-testid="limitation-item" data-ref="([^"]+)" data-period="([\d-]+)" data-expires="([\d-]+)"',
        expiring_part)] == [("0201", "2026-05-31"), ("0202", "2026-06-03"), ("0206", "2026-06-20"),
                            ("0203", "2026-07-10"), ("0204", "2026-08-23")]
    assert "0205" not in html
    assert [(r.split("/")[-1], p, e) for r, p, e in re.findall(
        r'data-ref="([^"]+)" data-period="([\d-]+)" data-expires="([\d-]+)"', expired_part)] == [
        ("0103", "2022-06", "2025-06-30")]
    assert len(items) == 6

    def interruption(number):
        row = re.search(rf'data-ref="示例花园/2栋/{number}".*?</tr>', html, re.S).group(0)
        return re.sub(r"<[^>]+>", "", re.search(r'data-testid="interruption".*?</td>', row, re.S).group(0)
                      .split(">", 1)[1]).strip()

    assert interruption("0203") == "2023年7月10日 · 缴费"
    assert interruption("0206") == "2023年6月20日 · 起诉/申请"
    assert interruption("0202") == "无：自到期日起算"
    assert "2026年6月1日 当周" in html and "ISO 周 2026-W23" in html
    assert f'href="/households/{find_unit("示例花园/2栋/0202").id}#statement"' in html


def test_the_limitation_page_is_for_managers_and_clerks(client, login, examples):
    login("manager")
    assert client.get("/cases/limitation").status_code == 200
    login("lawyer")
    assert client.get("/cases/limitation").status_code == 403
    assert "诉讼时效</a>" not in client.get("/").get_data(as_text=True)
