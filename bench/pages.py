"""Page benchmark: the dashboard, the household list and one household page at 20,000
units, next to the bare SQL aggregate on the same database.

    python bench/pages.py [--db PATH_OR_URL] [--units 20000] [--months 60]
                          [--as-of 2026-11-23] [--seed N] [--runs 7] [--workers 2] [--build]

1. Uses the portfolio that ``bench/ledger.py --keep`` built with the same arguments
   (default: ``bench/out/ledger-20000x60.sqlite3``; ``--db`` as in ledger.py). When it
   is missing, or with ``--build``, builds it with ledger.py's own functions and keeps
   it (a PostgreSQL database given here is wiped first, as ledger.py does).
2. Creates the user ``bench-pages`` (clerk) unless it exists and logs in through the
   Flask test client: the real login form, CSRF on, as a browser would.
3. With the clock at the as-of date (10:00 in the estates' time zone, ticking), times
   ``--runs`` rounds, interleaved: (a) the bare SQL aggregate of ledger.py (charged
   minus paid per unit), (b) ``GET /`` (the dashboard), (c) ``GET /households/`` sorted
   by amount, first page, and (d) the household page of the unit owing most — (c) and
   (d) only when those endpoints exist. Each request is a full round through the app:
   routing, login check, queries, template. Every page is timed three ways in each round:
   - **cold**: the day's figures kept by the process (``reports.day_figures``) are
     dropped first, so the page computes every unit's figures — what the first request
     of a day, or the first after a restart, pays;
   - **warm**: the same page requested once more (untimed) just before, nothing
     changed since — the steady state;
   - **after an act**: a contact with the household owing most is logged first
     (``collection.log_contact``, with a justification, so the contact policy never
     refuses it): an evidence event naming one household, so the page recomputes that
     household's figures and what the dashboard derives from the day's figures — what a
     page costs right after a clerk's act (a payment takes the same path; a contact is
     used because it leaves the portfolio's figures, which ledger.py checks, as built).
4. Prints every page's median and best time (wall clock) and the ratio of its median
   to the aggregate's median; also the median CPU time of this process, which on
   SQLite (the database runs inside the process) is nearly all the work and much less
   disturbed by other load on a shared machine. Goal: each page within 3x the
   aggregate and under 0.5 s, judged on the warm (steady) figures; the cold and
   after-an-act figures are judged and printed too. Also checks on every request that
   the dashboard shows the portfolio report's total owed.
"""
import argparse
import json
import os
import re
import statistics
import sys
import time
from datetime import date, datetime
from decimal import Decimal

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import ledger  # noqa: E402  (bench/ledger.py: the portfolio and the bare aggregate)

USER = "bench-pages"
PASSWORD = "bench-pages-password"
GOAL_RATIO = 3.0
GOAL_SECONDS = 0.5
CSRF_FIELD = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--units", type=int, default=20000)
    parser.add_argument("--months", type=int, default=60)
    parser.add_argument("--db", help="SQLite file path or database URL (default: ledger.py's kept file)")
    parser.add_argument("--as-of", type=date.fromisoformat, default=date(2026, 11, 23))
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument("--workers", type=int, default=2, help="engine processes when building")
    parser.add_argument("--runs", type=int, default=7, help="timed rounds (median and best are printed)")
    parser.add_argument("--build", action="store_true", help="build the portfolio again even if it exists")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


# -- the portfolio ------------------------------------------------------------------------------

def ensure_portfolio(args, url, sqlite_path, label):
    """Build the portfolio with ledger.py's functions unless a matching one was kept."""
    meta_path = os.path.join(ledger.OUT, f"{label}.meta.json")
    wanted = [args.units, args.months, args.as_of.isoformat(), args.seed]
    if not args.build and os.path.exists(meta_path) and (sqlite_path is None or os.path.exists(sqlite_path)):
        with open(meta_path) as handle:
            meta = json.load(handle)
        if [meta["units"], meta["months"], meta["as_of"], meta["seed"]] == wanted:
            print(f"using the portfolio kept by bench/ledger.py: {label}", flush=True)
            return
        sys.exit(f"{label} was built with other arguments ({meta}); give --build to build it again")
    print(f"building the portfolio ({args.units} units x {args.months} months) with bench/ledger.py's "
          f"functions; it is kept: {label}", flush=True)
    t0 = time.perf_counter()
    ledger.prepare_database(url, sqlite_path)
    meta = ledger.generate(args, url, sqlite_path)
    meta.update({"units": args.units, "months": args.months, "as_of": args.as_of.isoformat(), "seed": args.seed,
                 "schema_seconds": 0.0})
    with open(meta_path, "w") as handle:
        json.dump(meta, handle)
    print(f"built in {time.perf_counter() - t0:.0f} s", flush=True)


def make_app(url):
    from arrears import create_app
    data_dir = os.path.join(ledger.OUT, "data")
    os.makedirs(data_dir, exist_ok=True)
    return create_app({"SQLALCHEMY_DATABASE_URI": url, "ARREARS_DATA_DIR": data_dir, "SECRET_KEY": "bench-pages",
                       "SESSION_COOKIE_SECURE": False, "REMEMBER_COOKIE_SECURE": False,
                       # Timed here as they are: no background thread computing them meanwhile.
                       "ARREARS_WARM_FIGURES": False})


# -- measuring --------------------------------------------------------------------------------------

def log_in(client):
    page = client.get("/login").get_data(as_text=True)
    match = CSRF_FIELD.search(page)
    response = client.post("/login", data={"username": USER, "password": PASSWORD,
                                           "csrf_token": match.group(1) or match.group(2)})
    if response.status_code != 302:
        sys.exit(f"could not log in as {USER}: HTTP {response.status_code}")


def prepare(app, as_of):
    """The user, the pages' URLs, the expected total and the unit owing most:
    ``(pages, total owed text, unit id)``."""
    from flask import url_for
    from arrears.domain.money import format_fen
    from arrears.extensions import db
    from arrears.models import User
    from arrears.services.reports import portfolio_report
    from arrears.services.users import create_user
    from arrears.web.dashboard import HOUSEHOLD_ENDPOINTS

    with app.app_context():
        if db.session.execute(db.select(User).filter_by(username=USER)).scalar_one_or_none() is None:
            create_user(USER, "clerk", PASSWORD, actor="bench")
        report = portfolio_report(as_of, top=1)
        # As the screen groups it: 1,234.50 (arrears/web/formats.py, the same in both languages).
        total = f'{Decimal(format_fen(report["principal_outstanding_fen"] + report["late_fee_outstanding_fen"])):,}'
        top_unit = report["top"][0].unit_id if report["top"] else None
        db.session.remove()
    pages = [("dashboard", "/")]
    with app.test_request_context():
        if "households.index" in app.view_functions:
            pages.append(("household list", url_for("households.index", sort="amount_desc")))
        else:
            print("the household list (households.index) does not exist yet: not timed")
        endpoint = next((e for e in HOUSEHOLD_ENDPOINTS if e in app.view_functions), None)
        if endpoint and top_unit is not None:
            pages.append(("household page", url_for(endpoint, unit_id=top_unit)))
        else:
            print("the household page (household.show) does not exist yet: not timed")
    return pages, total, top_unit


def time_aggregate(app, as_of):
    """``((wall, cpu) seconds, rows)`` of the bare aggregate, fetched in full."""
    from arrears.extensions import db
    with app.app_context():
        query = ledger.aggregate_query(as_of)
        t0, c0 = time.perf_counter(), time.process_time()
        rows = db.session.execute(query).all()
        seconds = (time.perf_counter() - t0, time.process_time() - c0)
        db.session.remove()
    return seconds, len(rows)


def time_page(client, url):
    """``((wall, cpu) seconds, html)`` of one GET through the whole app."""
    t0, c0 = time.perf_counter(), time.process_time()
    response = client.get(url)
    html = response.get_data(as_text=True)
    seconds = (time.perf_counter() - t0, time.process_time() - c0)
    if response.status_code != 200:
        sys.exit(f"GET {url}: HTTP {response.status_code}")
    return seconds, html


def forget_day_figures(app):
    """Drop what the process keeps of the day's figures, as a new day or a restart would."""
    app.extensions.pop("arrears_day_figures", None)
    app.extensions.pop("arrears_collection", None)


def log_an_act(app, unit_id, minute):
    """One collection act naming the household ``unit_id``: a contact, logged through the service."""
    from datetime import timezone
    from arrears.extensions import db
    from arrears.models import Unit
    from arrears.services.collection import log_contact
    with app.app_context():
        unit = db.session.get(Unit, unit_id)
        moment = datetime.now(timezone.utc).replace(second=minute % 60, microsecond=0)
        log_contact(unit, channel="phone", contacted_at=moment, reached="nobody", outcome="bench: no answer",
                    actor=USER, justification="bench/pages.py: timing the pages after an act")
        db.session.remove()


def main(argv=None):
    import time_machine
    from zoneinfo import ZoneInfo

    args = parse_args(argv)
    url, sqlite_path, label = ledger.resolve_db(args)
    ensure_portfolio(args, url, sqlite_path, label)
    app = make_app(url)
    tz = ZoneInfo(app.config["ARREARS_TIMEZONE"])
    modes = ("cold", "warm", "after an act")
    with time_machine.travel(datetime(args.as_of.year, args.as_of.month, args.as_of.day, 10, 0, tzinfo=tz),
                             tick=True):
        pages, total, top_unit = prepare(app, args.as_of)
        client = app.test_client()
        log_in(client)
        # One untimed round: connections and templates warm, as in service.
        time_aggregate(app, args.as_of)
        for _, page_url in pages:
            time_page(client, page_url)
        times = {("bare SQL aggregate", ""): []}
        for mode in modes:
            times.update({(name, mode): [] for name, _ in pages})
        print(f"timing {args.runs} rounds, interleaved, as of {args.as_of} on {label}", flush=True)
        acts = 0
        for run in range(args.runs):
            seconds, rows = time_aggregate(app, args.as_of)
            times[("bare SQL aggregate", "")].append(seconds)
            line = [f"aggregate {seconds[0]:.3f} s ({rows} rows)"]
            for mode in modes:
                for name, page_url in pages:
                    if mode == "cold":
                        forget_day_figures(app)
                    elif mode == "warm":
                        time_page(client, page_url)  # whatever ran before, this page's figures are kept now
                    elif mode == "after an act" and top_unit is not None:
                        acts += 1
                        log_an_act(app, top_unit, acts)
                    seconds, html = time_page(client, page_url)
                    times[(name, mode)].append(seconds)
                    line.append(f"{name} {mode} {seconds[0]:.3f} s")
                    if name == "dashboard" and f'data-testid="total-owed">{total}<' not in html:
                        sys.exit(f"the dashboard does not show the portfolio report's total owed {total}")
            print(f"  run {run + 1}: " + ", ".join(line), flush=True)

    base = statistics.median(wall for wall, _ in times[("bare SQL aggregate", "")])
    cpu_base = statistics.median(cpu for _, cpu in times[("bare SQL aggregate", "")])
    print()
    print(f"{'':22} {'':13} {'median':>8} {'best':>8} {'ratio':>7} {'cpu':>8} {'ratio':>7}   "
          f"(ratio = median / the aggregate's median)")
    met = {mode: True for mode in modes}
    for (name, mode), measured in times.items():
        values = [wall for wall, _ in measured]
        median = statistics.median(values)
        ratio = median / base if base else float("inf")
        cpu = statistics.median(c for _, c in measured)
        cpu_ratio = cpu / cpu_base if cpu_base else float("inf")
        verdict = ""
        if mode:
            ok = ratio <= GOAL_RATIO and median < GOAL_SECONDS
            met[mode] = met[mode] and ok
            verdict = ("   goal met" if ok else
                       f"   goal NOT met (<= {GOAL_RATIO:g}x: {'yes' if ratio <= GOAL_RATIO else 'no'}, "
                       f"< {GOAL_SECONDS} s: {'yes' if median < GOAL_SECONDS else 'no'})")
        print(f"{name:22} {mode:13} {median:7.3f}s {min(values):7.3f}s {ratio:6.2f}x {cpu:7.3f}s "
              f"{cpu_ratio:6.2f}x{verdict}")
    print(f"dashboard total owed {total} CNY = the portfolio report's: checked on every request")
    print(f"goal (every page <= {GOAL_RATIO:g} x the aggregate and < {GOAL_SECONDS} s median), steady state "
          f"(warm): {'MET' if met['warm'] else 'NOT MET'}; first request of the day (cold): "
          f"{'met' if met['cold'] else 'not met'}; right after an act: {'met' if met['after an act'] else 'not met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
