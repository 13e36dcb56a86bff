"""The household page (issue 3 items 4–6): the engine's statement with its late-fee working,
the timeline, and the actions — payment, reversal, contact (contact policy), promise,
dispute, escalation — with every kind of bad input answered by the form again and a
message next to the field, never a 500. The clock is frozen at 2026-05-31, the as-of
date of the worked examples, so the figures are exact."""
import json
import re
from datetime import datetime

import pytest
from sqlalchemy import func, select

from arrears.extensions import db
from arrears.models import Contact, Dispute, DisputeUpdate, Escalation, EvidenceEvent, Payment, Promise, Reversal
from conftest import csrf_from
from household_helpers import SHANGHAI, Household, clock, examples, form_token, ref, by_testid, text_of  # noqa: F401


def count(model, *where):
    return db.session.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


@pytest.fixture
def clerk(client, login, examples):
    login("clerk")
    return client


def household(client, examples, number):
    return Household(client, examples[number])


# -- the page ---------------------------------------------------------------------------

def test_page_shows_the_engines_statement_with_working_and_limitation(clerk, examples, cli):
    html = household(clerk, examples, "0104").page()
    assert by_testid(html, "unit-ref") == ref("0104")
    assert by_testid(html, "balance-total") == "109.28"
    assert by_testid(html, "balance-principal") == "103.00"
    assert by_testid(html, "balance-late-fee") == "6.28"
    assert by_testid(html, "balance-credit") == "0.00"
    assert by_testid(html, "days-overdue") == "61"
    assert by_testid(html, "next-limitation") == "2029年3月31日"
    # Every figure of the statement is the one statement --json prints.
    document = json.loads(cli("statement", ref("0104"), "--as-of", "2026-05-31", "--json").output)
    for line in document["charges"]:
        row = re.search(rf'data-period="{line["period"]}">(.*?)</tr>', html, re.S).group(1)
        for key in ("amount", "principal_paid", "principal_outstanding", "late_fee_accrued",
                    "late_fee_outstanding"):
            assert f">{line[key]}<" in row, (line["period"], key)
    # The late-fee working, on demand: the 2026-03 charge accrued 61 days at 103.00 × 0.001.
    working = html[html.index('data-testid="late-fee-working"'):]
    assert "<details" in html and "2026年4月1日" in working and "2026年5月31日" in working
    assert ">103.00<" in working and ">61<" in working and "0.001" in working
    assert "催告" in html and "136****0104" in html and "13600000104" not in html


def test_credit_and_stage_free_household(clerk, examples):
    html = household(clerk, examples, "0105").page()
    assert by_testid(html, "balance-total") == "0.00"
    assert by_testid(html, "balance-credit") == "50.00"
    assert 'data-testid="stage"' not in html


def test_unknown_unit_is_404(clerk, examples):
    assert clerk.get("/households/99999").status_code == 404
    page = clerk.get(f"/households/{examples['0101']}").get_data(as_text=True)
    response = clerk.post("/households/99999/payments", data={"csrf_token": csrf_from(page)})
    assert response.status_code == 404


def test_timeline_reads_as_sentences_newest_first(clerk, examples):
    html = household(clerk, examples, "0104").page()
    timeline = html[html.index('data-testid="timeline"'):]
    assert "2026年3月10日 收到缴费 500.00 元（微信支付，流水号 EX0004）" in timeline
    assert "出账 2026-03 物业管理费：300.00 元，2026年3月31日 到期" in timeline
    kinds = re.findall(r'data-testid="timeline-item" data-kind="(\w+)"', timeline)
    assert kinds[0] == "payment_posted" and kinds[-1] == "unit_created"


# -- payments ---------------------------------------------------------------------------

def test_payment_changes_the_balance_and_the_timeline(clerk, examples):
    page = household(clerk, examples, "0104")
    response = page.pay("50.00", "WEB-0001")
    assert response.status_code == 302 and response.headers["Location"].endswith(page.url)
    html = page.page()
    # Principal first (103.00 - 50.00), the late fee as of today stays.
    assert by_testid(html, "balance-total") == "59.28"
    assert by_testid(html, "balance-principal") == "53.00"
    assert "已入账 50.00 元（流水号 WEB-0001）。当前欠费 59.28 元，预存 0.00 元。" in html
    kinds = re.findall(r'data-testid="timeline-item" data-kind="(\w+)"', html)
    assert kinds[0] == "payment_posted"
    assert "2026年5月31日 收到缴费 50.00 元（微信支付，流水号 WEB-0001）" in html
    payment = db.session.execute(select(Payment).where(Payment.reference == "WEB-0001")).scalar_one()
    assert (payment.amount_fen, payment.created_by, payment.method) == (5000, "clerk", "wechat")


def test_payment_naming_a_period(clerk, examples):
    page = household(clerk, examples, "0104")
    assert page.pay("10.00", "WEB-P1", periods=["2026-03"]).status_code == 302
    payment = db.session.execute(select(Payment).where(Payment.reference == "WEB-P1")).scalar_one()
    assert payment.period_list == ("2026-03",)


@pytest.mark.parametrize("amount, message", [
    ("-5.00", "金额不能为负数。"),
    ("0", "金额必须大于 0.00。"),
    ("0.00", "金额必须大于 0.00。"),
    ("abc", "金额须为数字，例如 1234.50。"),
    ("12.345", "金额最多保留两位小数（到分）。"),
    ("1,00.00", "金额须为数字，例如 1234.50。"),
    ("99999999999999", "金额过大：最多 9999999999999.99。"),
    ("", "请输入金额，例如 1234.50。"),
])
def test_bad_amounts_return_the_form_with_the_message_at_the_field(clerk, examples, amount, message):
    response = household(clerk, examples, "0104").pay(amount, "BAD-1")
    assert response.status_code == 422
    html = text_of(response)
    assert 'data-testid="error-pay-amount">' + message in html
    assert f'value="{amount}"' in html or amount == ""  # what was typed is kept
    assert count(Payment, Payment.reference == "BAD-1") == 0


@pytest.mark.parametrize("paid_on, message", [
    ("2026-06-01", "缴费日期 2026年6月1日 晚于今天。"),
    ("2026-13-01", "请输入日期，例如 2026-05-31。"),
    ("yesterday", "请输入日期，例如 2026-05-31。"),
    ("", "请输入缴费日期。"),
])
def test_bad_payment_dates(clerk, examples, paid_on, message):
    response = household(clerk, examples, "0104").pay("10.00", "BAD-2", paid_on=paid_on)
    assert response.status_code == 422
    assert 'data-testid="error-pay-paid_on">' + message in text_of(response)
    assert count(Payment) == 5  # the five imported ones only


def test_bad_method_reference_and_period(clerk, examples):
    page = household(clerk, examples, "0104")
    response = page.pay("10.00", "BAD-3", method="bitcoin")
    assert response.status_code == 422 and "请从列表中选择缴费方式。" in text_of(response)
    response = page.pay("10.00", "   ")
    assert response.status_code == 422 and "请输入缴费流水号。" in text_of(response)
    response = page.pay("10.00", "BAD-4", periods=["2019-01"])
    assert response.status_code == 422 and "请从列表中选择期间。" in text_of(response)
    assert count(Payment) == 5  # the five imported ones only


def test_duplicate_reference_is_posted_once_and_the_second_attempt_is_told(clerk, examples):
    page = household(clerk, examples, "0104")
    assert page.pay("20.00", "WEB-DUP").status_code == 302
    response = page.pay("20.00", "WEB-DUP")  # a double click, or the same slip typed twice
    assert response.status_code == 409
    html = text_of(response)
    assert 'data-testid="error-pay-reference">流水号 WEB-DUP 已入账' in html
    assert count(Payment, Payment.reference == "WEB-DUP") == 1
    assert by_testid(html, "balance-total") == "89.28"
    # A reference the import already posted for the estate (another household's) too.
    response = household(clerk, examples, "0101").pay("1.00", "EX0004")
    assert response.status_code == 409 and "流水号 EX0004 已入账" in text_of(response)


# -- reversals (managers) -----------------------------------------------------------------

def test_manager_reverses_a_payment_with_a_reason(client, login, examples):
    login("manager")
    page = household(client, examples, "0104")
    payment = db.session.execute(select(Payment).where(Payment.reference == "EX0004")).scalar_one()
    html = page.page()
    assert 'data-testid="reverse-submit"' in html
    response = page.post("reversals", {"reverse-payment": payment.id, "reverse-reason": ""}, html=html)
    assert response.status_code == 422 and "冲正必须填写原因。" in text_of(response)
    response = page.post("reversals", {"reverse-payment": payment.id, "reverse-reason": "bank returned it"})
    assert response.status_code == 302
    html = page.page()
    # Without the 500.00 both charges are unpaid again.
    assert by_testid(html, "balance-principal") == "600.00"
    assert "已冲正缴费 EX0004（500.00 元）。" in html
    assert "自 2026年5月31日 起冲正缴费 EX0004（500.00 元）：bank returned it" in html
    response = page.post("reversals", {"reverse-payment": payment.id, "reverse-reason": "again"})
    assert response.status_code == 409 and "缴费 EX0004 已冲正，本次未重复冲正。" in text_of(response)
    assert count(Reversal) == 1
    # Another household's payment is not on this page's list.
    other = db.session.execute(select(Payment).where(Payment.reference == "EX0001")).scalar_one()
    response = page.post("reversals", {"reverse-payment": other.id, "reverse-reason": "x"})
    assert response.status_code == 422 and count(Reversal) == 1


def test_clerk_may_not_reverse_or_escalate(clerk, examples):
    page = household(clerk, examples, "0104")
    html = page.page()
    assert 'data-testid="reverse-submit"' not in html and 'data-testid="escalate-submit"' not in html
    payment = db.session.execute(select(Payment).where(Payment.reference == "EX0004")).scalar_one()
    assert page.post("reversals", {"reverse-payment": payment.id, "reverse-reason": "x"}).status_code == 403
    assert page.post("escalation", {"escalate-stage": "legal", "escalate-reason": "x"}).status_code == 403
    assert count(Reversal) == 0 and count(Escalation) == 0


# -- contacts -----------------------------------------------------------------------------

def test_contact_is_logged(clerk, examples):
    page = household(clerk, examples, "0104")
    response = page.contact()
    assert response.status_code == 302
    contact = db.session.execute(select(Contact)).scalar_one()
    assert (contact.channel, contact.reached, contact.staff) == ("phone", "owner", "clerk")
    assert not contact.policy_breach
    html = page.page()
    assert "联系记录已保存：电话，promised to pay next week。" in html
    assert "2026年5月31日 10:00 通过电话联系，联系对象：业主本人，结果：promised to pay next week" in html


def test_contact_at_23_00_needs_a_justification_and_is_then_flagged(clerk, examples):
    page = household(clerk, examples, "0104")
    response = page.contact(when="2026-05-30T23:00")
    assert response.status_code == 422
    html = text_of(response)
    assert 'data-testid="error-contact-contacted_at">21:00 至 08:00 之间不得联系。' in html
    assert 'data-testid="error-contact-justification">此次联系违反联系规范（不在允许联系的时段）' in html
    assert 'value="2026-05-30T23:00"' in html
    assert count(Contact) == 0
    response = page.contact(when="2026-05-30T23:00", justification="owner asked to be called after work")
    assert response.status_code == 302
    contact = db.session.execute(select(Contact)).scalar_one()
    assert contact.policy_breach and contact.justification == "owner asked to be called after work"
    html = page.page()
    assert "联系记录已保存并标记" in html
    assert "违反联系规范（不在允许联系的时段）；理由：owner asked to be called after work" in html


def test_fourth_contact_in_a_week_and_a_stranger_break_the_policy(clerk, examples):
    page = household(clerk, examples, "0104")
    for day in ("2026-05-26", "2026-05-28", "2026-05-30"):
        assert page.contact(when=f"{day}T10:00").status_code == 302
    response = page.contact(when="2026-05-31T09:00")
    assert response.status_code == 422 and "任意 7 天内最多联系 3 次。" in text_of(response)
    response = household(clerk, examples, "0103").contact(reached="other")
    assert response.status_code == 422 and "只能联系业主本人或登记的家庭成员。" in text_of(response)
    assert count(Contact) == 3


def test_contact_bad_input(clerk, examples):
    page = household(clerk, examples, "0104")
    response = page.contact(when="2026-06-02T10:00")
    assert response.status_code == 422 and "该时间晚于现在。" in text_of(response)
    response = page.contact(when="not a time")
    assert response.status_code == 422 and "请输入日期和时间，例如 2026-05-31 14:30。" in text_of(response)
    response = page.contact(**{"contact-outcome": ""})
    assert response.status_code == 422 and "请填写联系结果。" in text_of(response)
    response = page.contact(channel="fax")
    assert response.status_code == 422 and "请从列表中选择联系方式。" in text_of(response)
    response = page.contact(**{"contact-form_token": ""})
    assert response.status_code == 422 and "表单已过期，请刷新页面后重试。" in text_of(response)
    assert count(Contact) == 0


def test_double_clicked_contact_is_recorded_once(clerk, examples):
    page = household(clerk, examples, "0104")
    html = page.page()
    token = form_token(html, "contact")
    first = page.contact(html=html, **{"contact-form_token": token})
    second = page.contact(html=html, **{"contact-form_token": token})
    assert first.status_code == 302 and second.status_code == 302
    assert "此表单已提交过；联系记录只保存一次，未重复保存。" in page.page()
    assert count(Contact) == 1
    assert count(EvidenceEvent, EvidenceEvent.kind == "contact_logged") == 1
    # A fresh page has a fresh token: the next contact is recorded.
    assert page.contact().status_code == 302 and count(Contact) == 2


# -- promises -----------------------------------------------------------------------------

def test_promise_is_kept_by_payments(clerk, examples):
    page = household(clerk, examples, "0104")
    response = page.post("promises", {"promise-amount": "60.00", "promise-promised_on": "2026-06-10"},
                         token_form="promise")
    assert response.status_code == 302
    html = page.page()
    assert "已记录还款承诺：2026年6月10日 前还款 60.00 元。" in html
    assert 'data-testid="promise-row" data-status="pending"' in html
    page.pay("30.00", "PR-1")
    assert 'data-status="pending"' in page.page()
    page.pay("30.00", "PR-2")
    assert 'data-testid="promise-row" data-status="kept"' in page.page()


def test_broken_promise_is_counted_on_the_page(clerk, examples, clock):
    page = household(clerk, examples, "0104")
    page.post("promises", {"promise-amount": "60.00", "promise-promised_on": "2026-06-01"}, token_form="promise")
    page.pay("10.00", "PR-3")
    clock.move_to(datetime(2026, 6, 2, 10, 0, tzinfo=SHANGHAI))
    html = page.page()
    assert 'data-testid="promise-row" data-status="broken"' in html
    assert by_testid(html, "broken-promises") == "违约承诺 1 次"


def test_promise_bad_input_and_double_click(clerk, examples):
    page = household(clerk, examples, "0104")
    response = page.post("promises", {"promise-amount": "1.001", "promise-promised_on": "2026-06-10"},
                         token_form="promise")
    assert response.status_code == 422 and "金额最多保留两位小数（到分）。" in text_of(response)
    response = page.post("promises", {"promise-amount": "10.00", "promise-promised_on": "2026-05-30"},
                         token_form="promise")
    assert response.status_code == 422 and "承诺日期 2026年5月30日 已经过去。" in text_of(response)
    response = page.post("promises", {"promise-amount": "10.00", "promise-promised_on": "2027-07-01"},
                         token_form="promise")
    assert response.status_code == 422 and "承诺日期超过一年以后。" in text_of(response)
    html = page.page()
    data = {"promise-amount": "10.00", "promise-promised_on": "2026-06-10"}
    assert page.post("promises", data, token_form="promise", html=html).status_code == 302
    assert page.post("promises", data, token_form="promise", html=html).status_code == 302
    assert count(Promise) == 1


# -- disputes -----------------------------------------------------------------------------

def test_dispute_lifecycle(clerk, examples):
    page = household(clerk, examples, "0104")
    response = page.post("disputes", {"dispute-subject": "lift out of order for a month", "dispute-note": ""},
                         token_form="dispute")
    assert response.status_code == 302
    html = page.page()
    assert by_testid(html, "dispute-badge") == "争议：lift out of order for a month"
    dispute = db.session.execute(select(Dispute)).scalar_one()
    update = {"dispute-update-dispute": dispute.id, "dispute-update-status": "in_progress", "dispute-update-note": ""}
    assert page.post("disputes/status", update, token_form="dispute-update").status_code == 302
    assert 'data-testid="dispute-row" data-status="in_progress"' in page.page()
    update["dispute-update-status"] = "resolved"
    assert page.post("disputes/status", update, token_form="dispute-update").status_code == 302
    html = page.page()
    assert 'data-testid="dispute-badge"' not in html and 'data-status="resolved"' in html
    # A resolved dispute may be reopened, not taken "in progress".
    update["dispute-update-status"] = "in_progress"
    response = page.post("disputes/status", update, token_form="dispute-update")
    assert response.status_code == 422 and "处于当前状态的争议不能改为该状态。" in text_of(response)
    assert [u.status for u in db.session.execute(select(DisputeUpdate).order_by(DisputeUpdate.id)).scalars()] == [
        "open", "in_progress", "resolved"]
    response = page.post("disputes", {"dispute-subject": ""}, token_form="dispute")
    assert response.status_code == 422 and "请填写争议内容。" in text_of(response)


def test_double_clicked_dispute_is_opened_once(clerk, examples):
    page = household(clerk, examples, "0104")
    html = page.page()
    data = {"dispute-subject": "noise"}
    assert page.post("disputes", data, token_form="dispute", html=html).status_code == 302
    assert page.post("disputes", data, token_form="dispute", html=html).status_code == 302
    assert count(Dispute) == 1 and count(DisputeUpdate) == 1


def test_another_households_dispute_cannot_be_updated_here(clerk, examples):
    other = household(clerk, examples, "0103")
    other.post("disputes", {"dispute-subject": "noise"}, token_form="dispute")
    dispute = db.session.execute(select(Dispute)).scalar_one()
    page = household(clerk, examples, "0104")
    response = page.post("disputes/status", {"dispute-update-dispute": dispute.id, "dispute-update-status": "resolved",
                                             "dispute-update-form_token": "0123456789abcdef0123456789abcdef"})
    assert response.status_code == 422 and count(DisputeUpdate) == 1


# -- escalation and lawyers -----------------------------------------------------------------

def test_escalation_opens_the_household_to_the_lawyer_assigned(client, login, examples, make_user):
    make_user("lawyer")
    make_user("lawyer", "lawyer2")
    login("manager")
    page = household(client, examples, "0103")
    response = page.post("escalation", {"escalate-stage": "legal", "escalate-reason": ""})
    assert response.status_code == 422 and "转交法务必须填写原因。" in text_of(response)
    response = page.post("escalation", {"escalate-stage": "legal", "escalate-reason": "four years unpaid",
                                        "escalate-lawyer": "nobody"})
    assert response.status_code == 422 and "请从列表中选择律师。" in text_of(response)
    assert count(Escalation) == 0
    response = page.post("escalation", {"escalate-stage": "legal", "escalate-reason": "four years unpaid",
                                        "escalate-lawyer": "lawyer"})
    assert response.status_code == 302
    html = page.page()
    assert "已转交法务并指派律师 lawyer，该律师现在可以查看该住户。" in html and by_testid(html, "stage") == "法务"
    response = page.post("escalation", {"escalate-stage": "legal", "escalate-reason": "again"})
    assert response.status_code == 422 and "该住户已转交法务。" in text_of(response)
    assert count(Escalation) == 1

    login("lawyer2")  # escalated to legal, but not their case
    assert client.get(page.url).status_code == 404
    login("lawyer")
    html = household(client, examples, "0103").page()
    assert by_testid(html, "balance-total") == "400.00"
    assert 'data-testid="pay-submit"' not in html and 'data-testid="contact-submit"' not in html
    assert client.get(f"/households/{examples['0104']}").status_code == 404
    assert page.pay("1.00", "LAW-1").status_code == 403

    login("manager")
    response = page.post("escalation", {"escalate-stage": "cleared", "escalate-reason": "settled out of court"})
    assert response.status_code == 302
    response = page.post("escalation", {"escalate-stage": "cleared", "escalate-reason": "again"})
    assert response.status_code == 422 and "该住户未转交法务。" in text_of(response)
    login("lawyer")
    assert client.get(page.url).status_code == 404


# -- the rules every action keeps ---------------------------------------------------------------

ACTIONS = ("payments", "reversals", "contacts", "promises", "disputes", "disputes/status", "escalation")


def test_every_action_refuses_get(clerk, examples):
    for action in ACTIONS:
        assert clerk.get(f"/households/{examples['0104']}/{action}").status_code == 405, action


def test_logged_out_is_sent_to_login(client, examples):
    unit_id = examples["0104"]
    response = client.get(f"/households/{unit_id}")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    token = csrf_from(client.get("/login").get_data(as_text=True))
    for action in ACTIONS:
        response = client.post(f"/households/{unit_id}/{action}", data={"csrf_token": token})
        assert response.status_code == 302 and "/login" in response.headers["Location"], action


def test_lawyer_may_not_act_and_sees_404_outside_legal(client, login, examples):
    login("lawyer")
    assert client.get(f"/households/{examples['0104']}").status_code == 404
    token = csrf_from(client.get("/households/").get_data(as_text=True))
    for action in ACTIONS:
        response = client.post(f"/households/{examples['0104']}/{action}", data={"csrf_token": token})
        assert response.status_code == 403, action


def test_action_without_csrf_token_is_refused(clerk, examples):
    response = clerk.post(f"/households/{examples['0104']}/payments",
                          data={"pay-amount": "10.00", "pay-paid_on": "2026-05-31", "pay-method": "cash",
                                "pay-reference": "NO-CSRF"})
    assert response.status_code == 400 and count(Payment, Payment.reference == "NO-CSRF") == 0


def test_english_timeline(clerk, examples):
    page = household(clerk, examples, "0104")
    html = page.page()
    clerk.post("/language/en", data={"csrf_token": csrf_from(html), "next": page.url})
    html = page.page()
    assert "Payment of 500.00 received on 10 Mar 2026 (WeChat Pay, reference EX0004)." in html
    assert "Show how the late fee was computed" in html


def test_language_switch_from_a_form_with_errors_goes_back_to_the_page(clerk, examples):
    page = household(clerk, examples, "0104")
    html = text_of(page.pay("-1", "LANG-1"))
    assert f'name="next" value="{page.url}"' in html


def test_an_amount_grouped_as_the_screens_show_it_is_read(clerk, examples):
    response = household(clerk, examples, "0104").pay("1,000.00", "GROUPED-1")
    assert response.status_code == 302
    assert db.session.execute(select(Payment.amount_fen).where(Payment.reference == "GROUPED-1")).scalar_one() == 100000


def test_a_payment_dated_years_before_the_first_bill_is_refused(clerk, examples):
    """0104's first bill is of 2026: 1999 is a mistyped year, not a payment ahead."""
    response = household(clerk, examples, "0104").pay("10.00", "OLD-1", paid_on="1999-05-31")
    assert response.status_code == 422
    assert "比 示例花园/1栋/0104 的首笔账单" in text_of(response) and "请核对年份" in text_of(response)
    assert count(Payment, Payment.reference == "OLD-1") == 0


def test_a_promise_above_what_is_owed_is_refused_at_its_field(clerk, examples):
    page = household(clerk, examples, "0104")  # owes 109.28
    response = page.post("promises", {"promise-amount": "109.29", "promise-promised_on": "2026-06-10"},
                         token_form="promise")
    assert response.status_code == 422
    assert 'data-testid="error-promise-amount">超过了该户目前的欠费总额。' in text_of(response)
    response = page.post("promises", {"promise-amount": "109.28", "promise-promised_on": "2026-06-10"},
                         token_form="promise")
    assert response.status_code == 302
