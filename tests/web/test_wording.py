"""Wording and formats the demo audit found uneven: one Chinese term per thing (困难户, 主管,
超额累进/全额累进, the notices by their names), the contact line of the timeline in natural
English, money in the call guides grouped as on every screen, and the delivery messages'
dates in the user's language."""
import glob
import json
import os
import re

import pytest
from flask_babel import force_locale
from flask_babel import gettext as _

from arrears.services.guides import grouped_yuan
from arrears.web.formats import money
from arrears.web.household import describe
from arrears.web.notices import delivery_message
from conftest import csrf_from
from household_helpers import Household, by_testid, clock, examples  # noqa: F401

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TABLES = os.path.join(ROOT, "arrears", "translations", "zh_CN")
ZH_GUIDES = os.path.join(ROOT, "arrears", "guides", "zh_CN.json")


def chinese_texts():
    """``[(where, text)]``: every Chinese value of the tables and the shipped Chinese guides."""
    found = []
    for path in sorted(glob.glob(os.path.join(TABLES, "*.json"))):
        with open(path, encoding="utf-8") as handle:
            found += [(f"{os.path.basename(path)}: {key}", value) for key, value in json.load(handle).items()]

    def walk(where, node):
        if isinstance(node, dict):
            for key, value in node.items():
                walk(f"{where}/{key}", value)
        elif isinstance(node, str):
            found.append((where, node))
    with open(ZH_GUIDES, encoding="utf-8") as handle:
        walk("guides/zh_CN.json", json.load(handle))
    return found


# -- one term per thing ------------------------------------------------------------------------

@pytest.mark.parametrize("variant", ["经理", "困难照顾", "分档累进", "分档全额"])
def test_retired_variants_appear_in_no_chinese_text(variant):
    assert [where for where, text in chinese_texts() if variant in text] == []


def test_the_specs_term_is_given_once_beside_the_products_word():
    """难点户 also means a hard-to-collect household: the status is 困难户; SPEC's word is
    given once, in brackets, where the relief page introduces the hardship households."""
    uses = [(where, text) for where, text in chinese_texts() if "难点户" in text]
    assert uses == [("relief.json: Hardship households", "困难户（难点户）")]


def test_hardship_manager_and_scheme_kinds_read_the_same_on_every_screen(app):
    with app.test_request_context(), force_locale("zh_CN"):
        assert _("Hardship") == "困难户"  # list filter, badge, waiver reason, export column
        assert _("Hardship status") == "困难户认定"  # relief queue and section, bundle index
        assert _("Hardship status #%(id)s", id=1) == "困难户认定 #1"
        assert _("Hardship status %(start)s to %(end)s (approved by %(who)s)", start="a", end="b",
                 who="c").startswith("困难户认定 ")
        assert "批准困难户认定" in _("Hardship status approved from %(start)s to %(end)s (requested by "
                                   "%(requested)s, approved by %(approved)s).", start="a", end="b", requested="c",
                                   approved="d")
        assert _("Manager") == "主管"
        assert _("Reason (seen by managers only)") == "原因（仅主管可见）"
        assert "另一位主管" in _("Your own request: another manager decides it.")
        # The admin's scheme kinds and the performance page's: the same two words.
        assert _("Tiered, each part at its tier's rate (超额累进)").startswith("超额累进")
        assert _("Tiered: each tier's rate on the part of the amount inside it").startswith("超额累进")
        assert _("Tiered, the whole amount at its tier's rate (全额累进)").startswith("全额累进")
        assert _("Tiered: the whole amount at the rate of the tier it falls in").startswith("全额累进")


# -- the timeline --------------------------------------------------------------------------------

def event(event_kind, **data):
    return {"seq": 1, "at": "2026-11-17T10:50:00.000000Z", "actor": "clerk", "kind": event_kind, "data": data}


CONTACT = event("contact_logged", channel="phone", contacted_at="2026-11-17T10:50:00.000000Z", reached="owner",
                outcome="promised to pay on Friday")


def test_the_contact_line_reads_naturally_in_english(app):
    with app.test_request_context(), force_locale("en"):
        text = describe(CONTACT, "Asia/Shanghai")["text"]
        assert text == "Phone call, 17 Nov 2026, 18:50 — reached: the owner; outcome: promised to pay on Friday"
        nobody = describe(event("contact_logged", channel="visit", contacted_at="2026-11-17T10:50:00Z",
                                reached="nobody", outcome="no answer at the door"), "Asia/Shanghai")["text"]
        assert nobody.startswith("Home visit, 17 Nov 2026, 18:50 — reached: nobody; outcome: ")


def test_the_contact_line_keeps_its_chinese(app):
    with app.test_request_context(), force_locale("zh_CN"):
        assert describe(CONTACT, "Asia/Shanghai")["text"] == (
            "2026年11月17日 18:50 通过电话联系，联系对象：业主本人，结果：promised to pay on Friday")


@pytest.mark.parametrize("kind, zh, en", [
    ("reminder", "已签发缴费提醒函 SL-2026-000001", "Payment reminder SL-2026-000001 issued"),
    ("demand", "已签发催款通知书 SL-2026-000001", "Demand for payment SL-2026-000001 issued"),
    ("final", "已签发最后通知 SL-2026-000001", "Final notice SL-2026-000001 issued"),
])
def test_the_timeline_names_a_notice_as_it_is_printed(app, kind, zh, en):
    issued = event("notice_issued", kind=kind, serial="SL-2026-000001", total="1234.50", as_of="2026-05-31")
    with app.test_request_context():
        with force_locale("zh_CN"):
            text = describe(issued, "Asia/Shanghai")["text"]
            assert text.startswith(zh) and "1,234.50" in text and "2026年5月31日" in text
            assert "提醒，" not in text and "催告" not in text
        with force_locale("en"):
            assert describe(issued, "Asia/Shanghai")["text"].startswith(en)


# -- money in the call guides -------------------------------------------------------------------

@pytest.mark.parametrize("fen", [0, 5, 10928, 800834, 123456789, -100050])
def test_guide_amounts_are_grouped_as_the_screens_show_money(app, fen):
    with app.test_request_context():
        for locale in ("zh_CN", "en"):
            with force_locale(locale):
                assert grouped_yuan(fen) == money(fen)
    assert grouped_yuan(800834) == "8,008.34"


def test_the_guide_gives_the_amount_as_the_page_does(client, login, examples, cli, write_csv):
    charges = write_csv("charges.csv", "estate,building,unit,period,fee_item,amount,due_date\n"
                                       "示例花园,1栋,0104,2026-04,物业管理费,7900.00,2026-04-30\n")
    assert cli("import", "charges", charges).exit_code == 0
    login("clerk")
    page = Household(client, examples["0104"])
    html = page.page()
    total = by_testid(html, "balance-total")
    assert re.fullmatch(r"\d,\d{3}\.\d\d", total), total
    opening = re.search(r'data-testid="guide-opening"[^>]*>(.*?)</div>', html, re.S).group(1)
    assert f"{total} 元" in opening and total.replace(",", "") not in opening
    client.post("/language/en", data={"csrf_token": csrf_from(html), "next": page.url})
    html = page.page()
    opening = re.search(r'data-testid="guide-opening"[^>]*>(.*?)</div>', html, re.S).group(1)
    assert f"{total} yuan" in opening


# -- the delivery messages ------------------------------------------------------------------------

@pytest.mark.parametrize("locale, future, before", [
    ("zh_CN", "日期 2026年12月30日 晚于今天。", "日期 2026年12月1日 早于通知签发日期（2026年12月2日）。"),
    ("en", "The date 30 Dec 2026 is in the future.",
     "The date 1 Dec 2026 is before the notice was issued (2 Dec 2026)."),
])
def test_delivery_messages_give_dates_as_every_other_message(app, locale, future, before):
    with app.test_request_context(), force_locale(locale):
        assert delivery_message("future_date", {"day": "2026-12-30"}) == future
        assert delivery_message("before_issue", {"day": "2026-12-01", "serial": "SL-2026-000001",
                                                 "issued": "2026-12-02"}) == before
        assert delivery_message("tracking_needed", {}) == _("A registered letter needs its tracking number.")
