"""The day's figures built in the background of a serving process (arrears/web/warm.py):
started once, at the first request, never in tests or when turned off; the overview
and list after it compute nothing; a new local day is built just after midnight; a
failure is retried later and never ends the thread.

The worked examples as of 2026-05-31 (test_dashboard.py's docstring has the figures).
"""
import time
from datetime import datetime

import pytest
from flask import Flask

from arrears.services.reports import day_figures
from arrears.web import warm
from household_helpers import FROZEN, SHANGHAI, clock, examples  # noqa: F401

AS_OF = FROZEN.date()


class Stop(BaseException):
    """Ends ``keep_warm``'s loop in a test."""


def test_the_wait_ends_just_after_the_next_local_midnight():
    assert warm.seconds_until_next_day(datetime(2026, 5, 31, 23, 59, 50, tzinfo=SHANGHAI)) == 10 + warm.AFTER_MIDNIGHT
    assert warm.seconds_until_next_day(datetime(2026, 5, 31, 0, 0, tzinfo=SHANGHAI)) == 86400 + warm.AFTER_MIDNIGHT
    assert warm.seconds_until_next_day(datetime(2026, 5, 31, 10, 0, tzinfo=SHANGHAI)) == 14 * 3600 + warm.AFTER_MIDNIGHT


def test_once_warmed_the_overview_and_the_list_compute_nothing(app, client, login, examples, clock):
    assert warm.warm_once(app) == AS_OF
    with app.app_context():
        kept = day_figures(AS_OF)
        assert kept.how == "kept"
    login("clerk")
    for url in ("/", "/households/"):
        assert client.get(url).status_code == 200
    with app.app_context():
        assert day_figures(AS_OF).token == kept.token  # the same snapshot: nothing computed again
    assert "535.43" in client.get("/").get_data(as_text=True)


def test_the_loop_builds_today_then_sleeps_until_the_next_day(app, examples, clock):
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        raise Stop

    with pytest.raises(Stop):
        warm.keep_warm(app, sleep=sleep)
    assert slept == [warm.seconds_until_next_day(datetime.now(SHANGHAI))]
    with app.app_context():
        assert day_figures(AS_OF).how == "kept"


def test_a_failure_is_logged_and_retried_later(app, monkeypatch, caplog):
    def broken(_app):
        raise RuntimeError("database away")

    monkeypatch.setattr(warm, "warm_once", broken)
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        if len(slept) == 2:
            raise Stop

    with pytest.raises(Stop):
        warm.keep_warm(app, sleep=sleep)
    assert slept == [warm.RETRY, warm.RETRY]
    assert "building the day's figures in the background failed" in caplog.text


def started_threads(monkeypatch):
    started = []
    monkeypatch.setattr(warm, "keep_warm", lambda app: started.append(app))
    return started


@pytest.mark.parametrize("config, starts", [({"TESTING": False}, True),
                                            ({"TESTING": False, "ARREARS_WARM_FIGURES": False}, False),
                                            ({"TESTING": True}, False)])
def test_a_serving_process_starts_one_thread_at_its_first_request(monkeypatch, config, starts):
    started = started_threads(monkeypatch)
    served = Flask("served")
    served.config.update(config)
    served.add_url_rule("/ping", "ping", lambda: "pong")
    warm.init_app(served)
    client = served.test_client()
    for _ in range(3):
        assert client.get("/ping").data == b"pong"
    for _ in range(50):  # the thread runs keep_warm at once; give it a moment
        if started or not starts:
            break
        time.sleep(0.01)
    assert started == ([served] if starts else [])

