"""Best-time hints on the work queue and the household page, and the payday a resident
mentioned (issue 7), on the shared examples with the clock at 2026-05-31 10:00 Shanghai
(a Sunday; ``household_helpers``)."""
import re
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from arrears.extensions import db
from arrears.models import Contact, EvidenceEvent, Payday
from arrears.services.ledger import find_unit
from household_helpers import clock, examples  # noqa: F401  (fixtures)

SHANGHAI = ZoneInfo("Asia/Shanghai")
REF = "示例花园/1栋/{}"


def calls(number, *moments):
    """Phone calls at local ``(datetime, answered)`` pairs, as plain rows (history, weeks back)."""
    unit = find_unit(REF.format(number))
    for moment, answered in moments:
        db.session.add(Contact(unit_id=unit.id, channel="phone", contacted_at=moment.astimezone(timezone.utc),
                               staff="clerk", reached="owner" if answered else "nobody",
                               outcome="接通" if answered else "无人接听"))
    db.session.commit()


def evening_history(number):
    """Weeks back: Tuesday evenings answered, Thursday evenings and weekday mornings not."""
    tuesday = datetime(2026, 4, 14, 19, 30, tzinfo=SHANGHAI)
    moments = [(tuesday + timedelta(weeks=w), True) for w in range(3)]
    moments += [(tuesday + timedelta(days=2, weeks=w, minutes=10), False) for w in range(2)]
    moments += [(datetime(2026, 4, 15 + d, 9, 30, tzinfo=SHANGHAI), False) for d in range(4)]
    calls(number, *moments)


def queue_hints(html):
    rows = re.findall(r'<tr data-testid="queue-item" data-unit="([^"]+)">(.*?)</tr>', html, re.S)
    found = {}
    for unit, body in rows:
        cell = re.search(r'data-testid="queue-hint">(.*?)</td>', body, re.S).group(1)
        found[unit] = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", cell)).strip()
    return found


def test_the_queue_shows_the_household_window_and_the_estate_fallback(examples, client, login):
    evening_history("0103")
    login("clerk")
    html = client.get("/").get_data(as_text=True)
    hints = queue_hints(html)
    assert hints[REF.format("0103")] == "每周二 19:00–21:00"
    # 0104 has no calls of its own: the estate's (the same calls) with a star.
    assert hints[REF.format("0104")] == "每周二 19:00–21:00 *"
    assert "本户在该时段 3 次致电中接听 3 次" in html


def test_no_history_anywhere_gives_no_window(examples, client, login):
    login("clerk")
    hints = queue_hints(client.get("/").get_data(as_text=True))
    assert set(hints.values()) == {"—"}


def test_the_household_page_says_when_to_call_and_when_now_is_good(examples, client, login, clock):
    evening_history("0103")
    unit = find_unit(REF.format("0103"))
    login("clerk")
    html = client.get(f"/households/{unit.id}").get_data(as_text=True)
    assert re.search(r'data-testid="call-window">每周二 19:00–21:00<', html)
    assert 'data-testid="good-time-now"' not in html  # Sunday noon
    clock.move_to(datetime(2026, 6, 2, 19, 45, tzinfo=SHANGHAI))  # a Tuesday evening
    html = client.get(f"/households/{unit.id}").get_data(as_text=True)
    assert 'data-testid="good-time-now"' in html


def test_a_window_is_never_offered_in_quiet_hours(app, examples, client, login):
    # Answered only late at night (logged with a justification in real life): no window.
    calls("0103", *((datetime(2026, 5, 1 + d, 21, 30, tzinfo=SHANGHAI), True) for d in range(8)))
    login("clerk")
    assert queue_hints(client.get("/").get_data(as_text=True))[REF.format("0103")] == "—"
    # A stricter office policy (quiet from 19:00) moves the window off the evening calls.
    evening_history("0104")
    calls("0104", (datetime(2026, 5, 4, 15, 0, tzinfo=SHANGHAI), True))
    app.config["ARREARS_CONTACT_QUIET_FROM"] = "19:00"
    hints = queue_hints(client.get("/").get_data(as_text=True))
    assert hints[REF.format("0104")] == "每天 15:00–17:00"


def post_payday(client, unit_id, day, note=""):
    from conftest import csrf_from
    page = client.get(f"/households/{unit_id}").get_data(as_text=True)
    return client.post(f"/households/{unit_id}/payday", data={
        "csrf_token": csrf_from(page), "payday-day_of_month": day, "payday-note": note})


def test_a_payday_is_recorded_and_suggests_the_days_before(examples, client, login):
    unit = find_unit(REF.format("0103"))
    login("clerk")
    response = post_payday(client, unit.id, "10", "每月10号发工资")
    assert response.status_code == 302
    html = client.get(f"/households/{unit.id}").get_data(as_text=True)
    assert "已记录发薪日：每月 10 日。" in html
    assert "每月 10 日发薪：建议在发薪日前的 2026年6月8日 至 2026年6月9日 联系。" in html
    assert "每月 10 日发薪" in queue_hints(client.get("/").get_data(as_text=True))[REF.format("0103")]
    event = db.session.execute(select(EvidenceEvent).where(EvidenceEvent.kind == "payday_recorded")).scalar_one()
    assert event.unit == REF.format("0103") and '"day_of_month":10' in event.data
    # Cleared with an empty day: a new row, the old one stays.
    assert post_payday(client, unit.id, "").status_code == 302
    html = client.get(f"/households/{unit.id}").get_data(as_text=True)
    assert "已清除发薪日。" in html and 'data-testid="payday-hint"' not in html
    assert db.session.execute(select(func.count()).select_from(Payday)).scalar_one() == 2


@pytest.mark.parametrize("day", ["0", "32", "abc", "10.5"])
def test_a_bad_payday_is_refused_and_nothing_is_stored(examples, client, login, day):
    unit = find_unit(REF.format("0103"))
    login("clerk")
    response = post_payday(client, unit.id, day)
    assert response.status_code == 302
    html = client.get(f"/households/{unit.id}").get_data(as_text=True)
    assert "发薪日请填写 1 至 31 之间的日期（留空即清除）。" in html
    assert db.session.execute(select(func.count()).select_from(Payday)).scalar_one() == 0


def test_lawyers_cannot_record_a_payday(examples, client, login):
    unit = find_unit(REF.format("0103"))
    login("lawyer")
    response = client.post(f"/households/{unit.id}/payday", data={"payday-day_of_month": "10"})
    assert response.status_code in (400, 403)
    assert db.session.execute(select(func.count()).select_from(Payday)).scalar_one() == 0


def test_the_estate_fallback_is_the_households_own_estate(examples, cli, write_csv):
    from arrears.services.best_time import hints_for
    evening_history("0103")
    assert cli("import", "units", write_csv("units.csv", "estate,building,unit,area_m2,owner_name,owner_phone\n"
                                            "另一小区,1栋,0101,80.00,王五,13900009999\n")).exit_code == 0
    other = find_unit("另一小区/1栋/0101")
    neighbour = find_unit(REF.format("0104"))
    now = datetime(2026, 5, 31, 2, 0, tzinfo=timezone.utc)
    hints = hints_for([other.id, neighbour.id], now)
    assert hints[neighbour.id].window.source == "estate"
    assert hints[other.id].window is None  # 示例花园's calls say nothing about another estate
