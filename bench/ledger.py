"""Ledger benchmark: the portfolio arrears report against the bare SQL aggregate.

    python bench/ledger.py [--units 20000] [--months 60] [--db PATH_OR_URL] [--keep]
                           [--as-of 2026-11-23] [--seed N] [--workers 2] [--reuse]

1. Builds a fresh database with the real migrations (``flask_migrate.upgrade``): by
   default a SQLite file under ``bench/out/`` (git-ignored); ``--db`` takes a file path
   or a URL (``postgresql://postgres@127.0.0.1:5432/bench``). A PostgreSQL database
   given here is WIPED (its ``public`` schema is dropped): name one that exists only
   for the benchmark (``createdb -h 127.0.0.1 -U postgres bench``); ``test`` and
   ``postgres`` are refused. An existing SQLite file is replaced only under bench/out/.
2. Generates, deterministically from ``--seed``, ``--units`` units (100 per building,
   20 buildings per estate, one fee item and one default late-fee policy row per
   estate) with ``--months`` monthly charges ending in the as-of month and about 50
   payments per unit (prompt payers, late payers, partial payers, payers who stopped,
   prepayers, units that never pay). Rows go in with SQLAlchemy Core bulk inserts
   (on PostgreSQL with foreign-key triggers off for the loading session when allowed,
   then VACUUM ANALYZE as autovacuum would do); no evidence events are written (the
   benchmark is about the report).
3. Builds the projection (``charge_balances``, ``unit_balances``,
   ``payment_allocations``) by running the real engine (``compute_statement``) on each
   unit's generated history and turning it into rows with ``balance_rows``, with the
   projection day = the as-of date.
4. In a separate process (started before the generation and waiting, so that its
   peak memory is the report's, not the generation's) times, ``--runs`` (3) times
   each, interleaved: (a) ``portfolio_report(as_of,
   top=100)`` and (b) the bare SQL aggregate, per unit, of charges billed minus
   payments made by the as-of date. Prints every run, the best of each, their ratio,
   the measuring process's peak RSS and the tracemalloc peak of one (untimed) report
   call, the report's SQL statement by statement, and whether the goal is met: report
   ≤ 3 × aggregate and peak memory < 1 GiB.
5. Checks the report: its totals, unit count and top 100 against the engine run of
   step 3 (every unit), and 50 random units against ``engine_arrears``.

``--keep`` keeps the database (else it is deleted / its schema dropped at the end);
``--reuse`` measures a database kept from an earlier run with the same arguments
without generating it again. Exit status 1 when the report disagrees with the engine.
"""
import argparse
import calendar
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OUT = os.path.join(HERE, "out")
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

UNITS_PER_BUILDING = 100
BUILDINGS_PER_ESTATE = 20
FEE_ITEM = "物业管理费"
PRICE_FEN_PER_M2 = 250           # per m² per month
PRICE_FEN_PER_M2_FROM_2025 = 280
METHODS = ("wechat", "alipay", "bank_transfer", "bank_deduction", "cash", "other")
METHOD_WEIGHTS = (38, 22, 18, 12, 8, 2)
# Payer profiles: name, share of units.
PROFILES = (("prompt", 0.66), ("late", 0.13), ("partial", 0.09), ("lapsed", 0.07),
            ("never", 0.03), ("prepay", 0.02))
ACTOR = "bench"
CREATED_AT = datetime(2026, 1, 1, tzinfo=timezone.utc)
SAMPLE_UNITS = 50
TOP = 100
GOAL_RATIO = 3.0
GOAL_MEMORY_MIB = 1024
PROTECTED_PG_DATABASES = {"test", "postgres", "template0", "template1"}


# -- command line ---------------------------------------------------------------------

def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--units", type=int, default=20000)
    parser.add_argument("--months", type=int, default=60)
    parser.add_argument("--db", help="SQLite file path or database URL (default: a fresh SQLite file "
                                     "under bench/out/). A PostgreSQL database given here is wiped.")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--reuse", action="store_true",
                        help="measure a database kept (--keep) from an earlier run; do not generate")
    parser.add_argument("--as-of", type=date.fromisoformat, default=date(2026, 11, 23),
                        help="report date; also the last day of generated data and the projection day")
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument("--workers", type=int, default=2, help="processes running the engine (0: none)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each query")
    parser.add_argument("--explain", action="store_true", help="also print the query plans")
    parser.add_argument("--measure-child", metavar="RESULT_JSON", help=argparse.SUPPRESS)
    parser.add_argument("--meta", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.units < 1 or args.months < 1:
        parser.error("--units and --months must be at least 1")
    return args


def resolve_db(args):
    """``(SQLAlchemy URL, SQLite path or None, label)``."""
    from config import database_url
    raw = args.db
    if not raw:
        os.makedirs(OUT, exist_ok=True)
        path = os.path.join(OUT, f"ledger-{args.units}x{args.months}.sqlite3")
        return f"sqlite:///{path}", path, os.path.basename(path)
    if "://" not in raw:
        path = os.path.abspath(raw)
        return f"sqlite:///{path}", path, os.path.basename(path)
    url = database_url(raw)
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///"):]
        return url, path, os.path.basename(path)
    from sqlalchemy.engine import make_url
    name = make_url(url).database or ""
    return url, None, f"{make_url(url).get_backend_name()}-{name}"


def make_app(url):
    from arrears import create_app
    data_dir = os.path.join(OUT, "data")
    os.makedirs(data_dir, exist_ok=True)
    return create_app({"SQLALCHEMY_DATABASE_URI": url, "ARREARS_DATA_DIR": data_dir})


# -- calendar ---------------------------------------------------------------------------

def period_of(index):
    year, month0 = divmod(index, 12)
    return f"{year}-{month0 + 1:02d}", date(year, month0 + 1, 1), \
        date(year, month0 + 1, calendar.monthrange(year, month0 + 1)[1])


def layout(units):
    buildings = -(-units // UNITS_PER_BUILDING)
    estates = -(-buildings // BUILDINGS_PER_ESTATE)
    return buildings, estates


def building_of(unit_id):
    return (unit_id - 1) // UNITS_PER_BUILDING + 1


def estate_of_building(building_id):
    return (building_id - 1) // BUILDINGS_PER_ESTATE + 1


# -- one chunk of units: generated history, engine, projection rows ----------------------

def build_chunk(task):
    """Units ``first..last`` (ids): their rows and projection rows, payment ids local to
    the chunk (0, 1, …; the caller adds an offset). Runs in a worker process."""
    from arrears.domain import ledger as engine
    from arrears.domain.policy import LateFeePolicy, PolicySchedule
    from arrears.services.ledger import UnitHistory, balance_rows

    seed, first, last, months, as_of_ord = task
    as_of = date.fromordinal(as_of_ord)
    last_index = as_of.year * 12 + as_of.month - 1
    periods = [period_of(i) for i in range(last_index - months + 1, last_index + 1)]
    schedule = PolicySchedule([LateFeePolicy(effective_from=date(1970, 1, 1), daily_rate=Decimal("0.001"),
                                             grace_days=0, cap_ratio=Decimal("1.0"),
                                             allocation="principal_first")])
    out = {name: [] for name in ("units", "owners", "ownerships", "charges", "payments",
                                 "charge_balances", "unit_balances", "payment_allocations")}
    stats = Counter()
    owing = []          # (total outstanding, unit id) for every unit
    payment_local = 0
    for unit_id in range(first, last + 1):
        rng = random.Random(seed * 1_000_003 + unit_id)
        building_id = building_of(unit_id)
        estate_id = estate_of_building(building_id)
        slot = (unit_id - 1) % UNITS_PER_BUILDING
        area = rng.randint(4500, 21000)
        out["units"].append({"id": unit_id, "building_id": building_id,
                             "number": f"{slot // 4 + 1:02d}{slot % 4 + 1:02d}", "area_centi_m2": area})
        # Owners: 2u-1 from the start; 4% of units were sold once (owner 2u from then).
        sold_on = None
        if rng.random() < 0.04:
            sold_on = periods[rng.randrange(len(periods))][1]
        out["owners"].append({"id": 2 * unit_id - 1, "name": f"业主{unit_id}",
                              "phone": f"13{rng.randrange(10**9):09d}"})
        out["ownerships"].append({"id": 2 * unit_id - 1, "unit_id": unit_id, "owner_id": 2 * unit_id - 1,
                                  "start_on": date(2010, 1, 1),
                                  "end_on": sold_on - timedelta(days=1) if sold_on else None})
        if sold_on:
            out["owners"].append({"id": 2 * unit_id, "name": f"新业主{unit_id}", "phone": None})
            out["ownerships"].append({"id": 2 * unit_id, "unit_id": unit_id, "owner_id": 2 * unit_id,
                                      "start_on": sold_on, "end_on": None})

        charges = []
        for m, (period, first_day, due) in enumerate(periods):
            price = PRICE_FEN_PER_M2_FROM_2025 if first_day.year >= 2025 else PRICE_FEN_PER_M2
            amount = (area * price + 50) // 100
            charge_id = (unit_id - 1) * months + m + 1
            owner = 2 * unit_id if sold_on and first_day >= sold_on else 2 * unit_id - 1
            charges.append(engine.Charge(charge_id, period, FEE_ITEM, amount, due, first_day))
            out["charges"].append({
                "id": charge_id, "unit_id": unit_id, "fee_item_id": estate_id, "owner_id": owner,
                "period": period, "amount_fen": amount, "due_date": due, "billed_on": first_day,
                "billing_run_id": (estate_id - 1) * months + m + 1,
                "created_at": CREATED_AT, "created_by": ACTOR})

        profile = pick_profile(rng)
        stats[profile] += 1
        raw = make_payments(rng, profile, charges, as_of)
        raw.sort(key=lambda p: p[1])                   # by date; ids follow (paid_on, id) order
        payments = []
        for k, (amount, paid_on, named) in enumerate(raw):
            pid = payment_local
            payment_local += 1
            payments.append(engine.Payment(pid, amount, paid_on, named))
            out["payments"].append({
                "id": pid, "estate_id": estate_id, "unit_id": unit_id, "amount_fen": amount,
                "paid_on": paid_on, "method": rng.choices(METHODS, METHOD_WEIGHTS)[0],
                "reference": f"B{unit_id:06d}-{k:03d}", "periods": ",".join(named) or None,
                "created_at": CREATED_AT, "created_by": ACTOR})

        # The real engine and the real projection code, on a history built in memory.
        history = UnitHistory.__new__(UnitHistory)
        history.unit, history.as_of = None, as_of
        history.charges, history.payments = charges, payments
        history.waivers, history.suspensions, history.later_reversals = [], [], []
        history.plan_change = None
        history.schedule = schedule
        statement = history.statement()
        rows, unit_row, allocations = balance_rows(unit_id, history, statement, as_of)
        out["charge_balances"].extend(rows)
        out["unit_balances"].append(unit_row)
        out["payment_allocations"].extend(allocations)
        principal, fee = statement.principal_outstanding_fen, statement.late_fee_outstanding_fen
        stats["principal_fen"] += principal
        stats["late_fee_fen"] += fee
        stats["credit_fen"] += statement.credit_fen
        stats["units_owing"] += principal + fee > 0
        owing.append((principal + fee, unit_id))
    return out, dict(stats), owing


def pick_profile(rng):
    r = rng.random()
    for name, share in PROFILES:
        if r < share:
            return name
        r -= share
    return PROFILES[0][0]


def make_payments(rng, profile, charges, as_of):
    """``[(amount_fen, paid_on, named periods)]`` for one unit, none after ``as_of``."""
    billed = [c for c in charges if c.billed_on <= as_of]
    pays = []

    def pay(amount, day, named=()):
        if amount > 0 and day <= as_of:
            pays.append((amount, day, tuple(named)))

    def prompt_month(c, carried):
        """Pay this month's charge (and maybe carried arrears) around the due date."""
        day = max(c.billed_on + timedelta(days=2), c.due_date + timedelta(days=rng.randint(-25, 3)))
        amount = c.amount_fen + carried
        if rng.random() < 0.09:                       # split: two channels, a few days apart
            part = amount * rng.randint(30, 70) // 100
            pay(part, day)
            pay(amount - part, day + timedelta(days=rng.randint(0, 6)))
        else:
            pay(amount, day)

    if profile == "prompt":
        carried = 0
        for c in billed:
            if rng.random() < 0.04:                   # a month missed
                carried += c.amount_fen
                continue
            take = carried if rng.random() < 0.6 else 0
            prompt_month(c, take)
            carried -= take
    elif profile == "late":
        group, every = [], rng.randint(2, 4)
        for c in billed:
            group.append(c)
            if len(group) >= every:
                day = group[-1].due_date + timedelta(days=rng.randint(5, 75))
                named = [g.period for g in group] if rng.random() < 0.3 else ()
                pay(sum(g.amount_fen for g in group), day, named)
                group, every = [], rng.randint(2, 4)
    elif profile == "partial":
        share = rng.uniform(0.45, 0.9)
        for c in billed:
            if rng.random() < 0.93:
                fraction = min(1.0, share + rng.uniform(-0.1, 0.1))
                day = c.due_date + timedelta(days=rng.randint(-10, 20))
                pay(int(c.amount_fen * fraction), max(day, c.billed_on))
    elif profile == "lapsed":
        stop = rng.randint(len(billed) // 3, max(len(billed) // 3, len(billed) - 3))
        for c in billed[:stop]:
            prompt_month(c, 0)
        if rng.random() < 0.5 and stop < len(billed):
            owed = sum(c.amount_fen for c in billed[stop:])
            lump_on = billed[stop].due_date + timedelta(days=rng.randint(60, 700))
            pay(owed * rng.randint(20, 60) // 100, lump_on)
    elif profile == "prepay":
        for start in range(0, len(billed), 12):
            year = billed[start:start + 12]
            day = year[0].billed_on + timedelta(days=rng.randint(0, 20))
            pay(sum(c.amount_fen for c in year) + rng.choice((0, 0, 10000)), day)
    # "never": nothing.
    return pays


# -- generation -----------------------------------------------------------------------

def prepare_database(url, sqlite_path):
    """A fresh, migrated database."""
    from sqlalchemy import create_engine, text
    if sqlite_path:
        inside_out = os.path.commonpath([os.path.abspath(sqlite_path), OUT]) == OUT
        if os.path.exists(sqlite_path) and not inside_out:
            sys.exit(f"refusing to replace {sqlite_path}: delete it yourself or give a new path")
        os.makedirs(os.path.dirname(sqlite_path), exist_ok=True)
        for suffix in ("", "-journal", "-wal", "-shm"):
            if os.path.exists(sqlite_path + suffix):
                os.remove(sqlite_path + suffix)
    else:
        engine = create_engine(url)
        if engine.url.database in PROTECTED_PG_DATABASES:
            sys.exit(f"refusing to wipe database {engine.url.database!r}: give one only for the benchmark")
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    from flask_migrate import upgrade
    app = make_app(url)
    with app.app_context():
        upgrade()
        from arrears.extensions import db
        db.engine.dispose()


def drop_database(url, sqlite_path):
    from sqlalchemy import create_engine, text
    if sqlite_path:
        for suffix in ("", "-journal", "-wal", "-shm"):
            if os.path.exists(sqlite_path + suffix):
                os.remove(sqlite_path + suffix)
        return
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def generate(args, url, sqlite_path):
    """Generate the portfolio and its projection; returns the expectations for the check."""
    import multiprocessing

    units, months = args.units, args.months
    chunk = max(10, min(250, units // 40 or 10))
    tasks = [(args.seed, first, min(units, first + chunk - 1), months, args.as_of.toordinal())
             for first in range(1, units + 1, chunk)]
    # Fork the workers before any database connection exists in this process.
    pool = multiprocessing.get_context("fork").Pool(args.workers) if args.workers > 0 else None

    from sqlalchemy import text
    from arrears.extensions import db
    from arrears.models import (BillingRun, Building, ChargeBalance, Estate, FeeItem, LateFeePolicyVersion,
                                Owner, Ownership, Payment, PaymentAllocation, Unit, UnitBalance)
    from arrears.models import Charge as ChargeRow

    tables = {"units": Unit, "owners": Owner, "ownerships": Ownership, "charges": ChargeRow,
              "payments": Payment, "charge_balances": ChargeBalance, "unit_balances": UnitBalance,
              "payment_allocations": PaymentAllocation}
    buildings, estates = layout(units)
    last_index = args.as_of.year * 12 + args.as_of.month - 1
    periods = [period_of(i)[0] for i in range(last_index - months + 1, last_index + 1)]
    app = make_app(url)
    counts = Counter()
    stats = Counter()
    owing = []
    started = time.perf_counter()
    with app.app_context():
        engine = db.engine
        with engine.connect() as connection:
            if sqlite_path:
                # Only this loading connection: the measuring process uses the app's defaults.
                connection.exec_driver_sql("PRAGMA synchronous=OFF")
                connection.exec_driver_sql("PRAGMA cache_size=-200000")
                connection.commit()
            elif engine.dialect.name == "postgresql":
                # Also only this loading connection. Foreign-key triggers off for the load
                # (2-3x faster; the rows are consistent by construction) when the role may
                # do that (superuser), else the load just runs with them.
                connection.exec_driver_sql("SET synchronous_commit = off")
                connection.commit()
                try:
                    connection.exec_driver_sql("SET session_replication_role = replica")
                    connection.commit()
                    print("  loading with session_replication_role = replica (foreign-key checks off)")
                except Exception as error:            # noqa: BLE001 - any refusal: load with checks
                    connection.rollback()
                    print(f"  loading with foreign-key checks on ({type(error).__name__})")
            with connection.begin():
                connection.execute(Estate.__table__.insert(), [
                    {"id": e, "name": f"基准花园{e:03d}", "timezone": "Asia/Shanghai", "created_at": CREATED_AT}
                    for e in range(1, estates + 1)])
                connection.execute(Building.__table__.insert(), [
                    {"id": b, "estate_id": estate_of_building(b), "name": f"{(b - 1) % BUILDINGS_PER_ESTATE + 1}栋"}
                    for b in range(1, buildings + 1)])
                connection.execute(FeeItem.__table__.insert(), [
                    {"id": e, "estate_id": e, "name": FEE_ITEM, "basis": "per_m2", "price_fen": PRICE_FEN_PER_M2,
                     "due_day": None, "active": True} for e in range(1, estates + 1)])
                connection.execute(LateFeePolicyVersion.__table__.insert(), [
                    {"id": e, "estate_id": e, "effective_from": date(1970, 1, 1), "daily_rate": "0.001",
                     "grace_days": 0, "cap_ratio": "1.0", "allocation": "principal_first",
                     "created_at": CREATED_AT, "created_by": ACTOR} for e in range(1, estates + 1)])
                per_estate = Counter(estate_of_building(building_of(u)) for u in range(1, units + 1))
                connection.execute(BillingRun.__table__.insert(), [
                    {"id": (e - 1) * months + m + 1, "estate_id": e, "period": period,
                     "charges_created": per_estate[e], "created_at": CREATED_AT, "created_by": ACTOR}
                    for e in range(1, estates + 1) for m, period in enumerate(periods)])

            results = pool.imap(build_chunk, tasks) if pool else map(build_chunk, tasks)
            payment_offset = 0
            done = 0
            next_report = 0.0
            engine_wait = insert_time = 0.0
            for _ in tasks:
                t0 = time.perf_counter()
                out, chunk_stats, chunk_owing = next(results)
                t1 = time.perf_counter()
                engine_wait += t1 - t0
                for row in out["payments"]:
                    row["id"] += payment_offset + 1
                for row in out["payment_allocations"]:
                    if row["payment_id"] is not None:
                        row["payment_id"] += payment_offset + 1
                payment_offset += len(out["payments"])
                with connection.begin():
                    for name, model in tables.items():
                        if out[name]:
                            connection.execute(model.__table__.insert(), out[name])
                            counts[name] += len(out[name])
                insert_time += time.perf_counter() - t1
                stats.update(chunk_stats)
                owing.extend(chunk_owing)
                done += len(out["units"])
                elapsed = time.perf_counter() - started
                if done == units or elapsed >= next_report:
                    rate = done / elapsed if elapsed else 0
                    eta = (units - done) / rate if rate else 0
                    print(f"  {done:>7}/{units} units  {counts['charges']:>9} charges  "
                          f"{counts['payments']:>9} payments  {elapsed:6.1f} s  (eta {eta:5.0f} s)", flush=True)
                    next_report = elapsed + 10
            if pool:
                pool.close()
                pool.join()
            post_started = time.perf_counter()
            if engine.dialect.name == "postgresql":
                # Explicit ids: move the sequences on, so the database stays usable (--keep).
                with connection.begin():
                    for name in ("estates", "buildings", "units", "owners", "ownerships", "fee_items",
                                 "late_fee_policies", "billing_runs", "charges", "payments",
                                 "payment_allocations"):
                        connection.execute(text(
                            f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                            f"(SELECT coalesce(max(id), 1) FROM {name}))"))
                # What autovacuum would do soon after a load like this: statistics and the
                # visibility map (index-only scans), so the first timed run is not the one
                # that writes hint bits.
                connection.commit()
                raw = connection.connection.dbapi_connection
                raw.autocommit = True
                raw.execute("VACUUM ANALYZE")
                raw.autocommit = False
            post_time = time.perf_counter() - post_started
        engine.dispose()
    total = time.perf_counter() - started
    owing.sort(key=lambda item: (-item[0], item[1]))
    top = [unit_id for amount, unit_id in owing[:TOP] if amount > 0]
    return {
        "counts": dict(counts), "stats": dict(stats), "top": top, "seconds": total,
        "engine_wait_seconds": engine_wait, "insert_seconds": insert_time, "post_seconds": post_time,
        "chunks": len(tasks), "workers": args.workers,
    }


# -- measuring (fresh subprocess) -----------------------------------------------------------

def aggregate_query(as_of):
    """The bare SQL aggregate: per unit, charges billed minus payments made by ``as_of``."""
    from sqlalchemy import func, select
    from arrears.models import Charge, Payment
    charged = (select(Charge.unit_id, func.sum(Charge.amount_fen).label("charged"))
               .where(Charge.billed_on <= as_of).group_by(Charge.unit_id).subquery())
    paid = (select(Payment.unit_id, func.sum(Payment.amount_fen).label("paid"))
            .where(Payment.paid_on <= as_of).group_by(Payment.unit_id).subquery())
    return (select(charged.c.unit_id, charged.c.charged - func.coalesce(paid.c.paid, 0))
            .outerjoin(paid, paid.c.unit_id == charged.c.unit_id))


def measure(args, url, result_path):
    import tracemalloc

    from sqlalchemy import event, text
    from arrears.extensions import db
    from arrears.models import Unit
    from arrears.services.reports import arrears_by_unit, engine_arrears, portfolio_report

    as_of = args.as_of
    app = make_app(url)
    result = {}
    with app.app_context():
        db.session.execute(text("SELECT 1"))        # connect outside the timings
        db.session.remove()
        query = aggregate_query(as_of)
        agg_times, report_times, agg_cpu, report_cpu = [], [], [], []
        for run in range(args.runs):
            t0, c0 = time.perf_counter(), time.process_time()
            rows = db.session.execute(query).all()
            agg_times.append(time.perf_counter() - t0)
            agg_cpu.append(time.process_time() - c0)
            agg_rows = len(rows)
            del rows
            db.session.remove()
            t0, c0 = time.perf_counter(), time.process_time()
            report = portfolio_report(as_of, top=TOP)
            report_times.append(time.perf_counter() - t0)
            report_cpu.append(time.process_time() - c0)
            db.session.remove()
            print(f"  run {run + 1}: aggregate {agg_times[-1]:.3f} s (cpu {agg_cpu[-1]:.3f}, {agg_rows} rows)   "
                  f"report {report_times[-1]:.3f} s (cpu {report_cpu[-1]:.3f}, {report['units']} units)",
                  flush=True)
        peak_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        hwm_mib = vm_hwm_mib()

        # One more report call, untimed, under tracemalloc (it slows allocation down).
        tracemalloc.start()
        portfolio_report(as_of, top=TOP)
        _, traced_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        db.session.remove()

        # One more, untimed, statement by statement: the SQL it sends is captured, then
        # each statement is run again on the bare DBAPI cursor and fetched fully.
        captured = []

        def capture(conn, cursor, statement, parameters, context, executemany):
            captured.append((statement, parameters))

        engine = db.engine
        event.listen(engine, "before_cursor_execute", capture)
        t0 = time.perf_counter()
        portfolio_report(as_of, top=TOP)
        breakdown_total = time.perf_counter() - t0
        db.session.remove()
        report_statements = list(captured)
        captured.clear()
        db.session.execute(query).all()
        db.session.remove()
        aggregate_statement = captured[-1]
        event.remove(engine, "before_cursor_execute", capture)
        timed = []
        with engine.connect() as connection:
            cursor = connection.connection.dbapi_connection.cursor()
            for sql, params in report_statements + [aggregate_statement]:
                t0 = time.perf_counter()
                cursor.execute(sql, params)
                fetched = len(cursor.fetchall())
                timed.append([time.perf_counter() - t0, fetched, " ".join(sql.split())])
            cursor.close()
        result["breakdown"] = {"total": breakdown_total, "statements": timed[:-1], "aggregate": timed[-1]}
        if args.explain:
            result["plans"] = [[" ".join(sql.split()), explain(engine, sql, params)]
                               for sql, params in report_statements + [aggregate_statement]]

        # Correctness: the fast figures against the engine, on a sample and in total.
        fast = arrears_by_unit(as_of)
        sample_rng = random.Random(args.seed)
        unit_ids = sorted(fast)
        sample = sample_rng.sample(unit_ids, min(SAMPLE_UNITS, len(unit_ids)))
        mismatches = []
        for unit in db.session.query(Unit).filter(Unit.id.in_(sample)).all():
            reference = engine_arrears(unit, as_of)
            if reference != fast[unit.id]:
                mismatches.append({"unit": unit.id, "report": repr(fast[unit.id]), "engine": repr(reference)})
        result.update({
            "aggregate_times": agg_times, "report_times": report_times, "aggregate_rows": agg_rows,
            "aggregate_cpu": agg_cpu, "report_cpu": report_cpu, "vm_hwm_mib": hwm_mib,
            "peak_rss_mib": peak_rss_mib, "tracemalloc_peak_mib": traced_peak / 2**20,
            "report": {"units": report["units"], "units_owing": report["units_owing"],
                       "principal_fen": report["principal_outstanding_fen"],
                       "late_fee_fen": report["late_fee_outstanding_fen"],
                       "top": [row.unit_id for row in report["top"]]},
            "credit_fen": sum(row.credit_fen for row in fast.values()),
            "sampled": len(sample), "mismatches": mismatches, "dialect": engine.dialect.name,
        })
    with open(result_path, "w") as handle:
        json.dump(result, handle)


def vm_hwm_mib():
    """Peak RSS of this process image (``VmHWM``; Linux only, else None)."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def explain(engine, sql, params):
    prefix = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN (ANALYZE, BUFFERS) "
    with engine.connect() as connection:
        cursor = connection.connection.dbapi_connection.cursor()
        cursor.execute(prefix + sql, params)
        return ["  ".join(str(col) for col in row) for row in cursor.fetchall()]


# -- main -------------------------------------------------------------------------------------

def fen(amount):
    from arrears.domain.money import format_fen
    return format_fen(amount)


def main(argv=None):
    args = parse_args(argv)
    url, sqlite_path, label = resolve_db(args)
    if args.measure_child:
        if sys.stdin.readline().strip() != "go":
            return 0                                  # the generation failed: nothing to measure
        measure(args, url, args.measure_child)
        return 0

    os.makedirs(OUT, exist_ok=True)
    meta_path = os.path.join(OUT, f"{label}.meta.json")
    print(f"ledger benchmark: {args.units} units x {args.months} months, as of {args.as_of}, "
          f"seed {args.seed}, database {label}", flush=True)
    # The measuring process starts now, while this one is still small, and waits: Linux
    # keeps ru_maxrss across fork and exec, so a process started after the generation
    # would report the generator's peak, not its own.
    fd, result_path = tempfile.mkstemp(prefix="ledger-bench-", suffix=".json", dir=OUT)
    os.close(fd)
    child = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), "--measure-child", result_path, "--db", url,
         "--units", str(args.units), "--months", str(args.months), "--as-of", args.as_of.isoformat(),
         "--seed", str(args.seed), "--runs", str(args.runs)] + (["--explain"] if args.explain else []),
        stdin=subprocess.PIPE)
    try:
        if args.reuse:
            if not os.path.exists(meta_path):
                sys.exit(f"--reuse: no {meta_path} from an earlier --keep run")
            with open(meta_path) as handle:
                meta = json.load(handle)
            if [meta["units"], meta["months"], meta["as_of"], meta["seed"]] != \
                    [args.units, args.months, args.as_of.isoformat(), args.seed]:
                sys.exit(f"--reuse: {label} was generated with other arguments: {meta}")
            print("reusing the database generated earlier (generation not repeated)")
        else:
            t0 = time.perf_counter()
            prepare_database(url, sqlite_path)
            schema_seconds = time.perf_counter() - t0
            print(f"schema: real migrations (flask_migrate.upgrade) in {schema_seconds:.1f} s", flush=True)
            print(f"generating with {args.workers} engine worker(s); per-row evidence events are NOT "
                  f"written (the benchmark is about the report)", flush=True)
            meta = generate(args, url, sqlite_path)
            meta.update({"units": args.units, "months": args.months, "as_of": args.as_of.isoformat(),
                         "seed": args.seed, "schema_seconds": schema_seconds})
            with open(meta_path, "w") as handle:
                json.dump(meta, handle)
            counts, stats = meta["counts"], meta["stats"]
            print(f"generated in {meta['seconds']:.1f} s (waiting for the engine "
                  f"{meta['engine_wait_seconds']:.1f} s, inserting {meta['insert_seconds']:.1f} s, "
                  f"after-load {meta['post_seconds']:.1f} s): "
                  + ", ".join(f"{counts.get(k, 0)} {k}" for k in ("units", "charges", "payments", "charge_balances",
                                                            "payment_allocations")))
            print("  payer profiles: " + ", ".join(f"{name} {stats.get(name, 0)}" for name, _ in PROFILES))
        if sqlite_path and os.path.exists(sqlite_path):
            print(f"  database size {os.path.getsize(sqlite_path) / 2**20:.0f} MiB")
        print(f"measuring in a fresh process: {args.runs} runs each, interleaved", flush=True)
        child.stdin.write(b"go\n")
        child.stdin.close()
        if child.wait() != 0:
            sys.exit(f"the measuring process failed (exit {child.returncode})")
        with open(result_path) as handle:
            result = json.load(handle)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        os.remove(result_path)

    ok = report_results(args, meta, result)
    if not args.keep and not args.reuse:
        drop_database(url, sqlite_path)
        if os.path.exists(meta_path):
            os.remove(meta_path)
        print(f"database removed (use --keep to keep it)")
    elif sqlite_path:
        print(f"database kept: {sqlite_path}")
    else:
        print(f"database kept: {label}")
    return 0 if ok else 1


def report_results(args, meta, result):
    agg, rep = min(result["aggregate_times"]), min(result["report_times"])
    ratio = rep / agg if agg else float("inf")
    memory = result["peak_rss_mib"]
    print()
    breakdown = result["breakdown"]
    in_sql = sum(seconds for seconds, _, _ in breakdown["statements"])
    print(f"one more report call, {breakdown['total']:.3f} s; its statements run again alone "
          f"(execute + fetch all on the DBAPI cursor):")
    for seconds, rows, sql in breakdown["statements"]:
        print(f"  {seconds:7.3f} s {rows:>7} rows  {sql[:140]}")
    print(f"  {max(0.0, breakdown['total'] - in_sql):7.3f} s  the rest: SQLAlchemy, Python, sorting")
    seconds, rows, sql = breakdown["aggregate"]
    print(f"  the aggregate alone: {seconds:.3f} s {rows} rows")
    for sql, plan in result.get("plans", []):
        print(f"plan of: {sql[:400]}")
        for line in plan:
            print(f"    {line}")
    print()
    print(f"(a) portfolio_report(as_of, top={TOP}): best {rep:.3f} s   runs "
          + ", ".join(f"{t:.3f}" for t in result["report_times"]))
    print(f"(b) bare SQL aggregate:              best {agg:.3f} s   runs "
          + ", ".join(f"{t:.3f}" for t in result["aggregate_times"]))
    cpu_rep, cpu_agg = min(result["report_cpu"]), min(result["aggregate_cpu"])
    where = ("SQLite runs inside this process, so this is nearly all the work and less disturbed by "
             "other load" if result["dialect"] == "sqlite" else "the client's share only; the server's is not counted")
    print(f"    cpu time of the measuring process, best: report {cpu_rep:.3f} s, aggregate {cpu_agg:.3f} s, "
          f"ratio {cpu_rep / cpu_agg if cpu_agg else float('inf'):.2f} ({where})")
    print(f"ratio report / aggregate: {ratio:.2f}  (goal <= {GOAL_RATIO:g}: {'met' if ratio <= GOAL_RATIO else 'NOT met'})")
    hwm = result.get("vm_hwm_mib")
    print(f"peak memory of the measuring process (ru_maxrss): {memory:.0f} MiB"
          + (f", VmHWM {hwm:.0f} MiB" if hwm else "") + "  "
          f"(goal < {GOAL_MEMORY_MIB} MiB: {'met' if memory < GOAL_MEMORY_MIB else 'NOT met'}); "
          f"tracemalloc peak of one report call: {result['tracemalloc_peak_mib']:.1f} MiB")

    report = result["report"]
    print(f"report: {report['units_owing']} of {report['units']} units owe principal {fen(report['principal_fen'])}, "
          f"late fee {fen(report['late_fee_fen'])}; credit held {fen(result['credit_fen'])}")
    ok = not result["mismatches"]
    print(f"check: {len(result['mismatches'])} mismatches in {result['sampled']} random units "
          f"(report vs engine_arrears)")
    for item in result["mismatches"][:10]:
        print(f"  unit {item['unit']}: report {item['report']}  engine {item['engine']}")
    if "stats" in meta:
        stats = meta["stats"]
        expected = [args.units, stats.get("units_owing", 0), stats.get("principal_fen", 0),
                    stats.get("late_fee_fen", 0), stats.get("credit_fen", 0), meta["top"]]
        got = [report["units"], report["units_owing"], report["principal_fen"], report["late_fee_fen"],
               result["credit_fen"], report["top"]]
        names = ["units", "units owing", "principal", "late fee", "credit", f"top {TOP}"]
        wrong = [name for name, e, g in zip(names, expected, got) if e != g]
        print(f"check: report totals, unit counts and top {TOP} vs the engine over all units: "
              + ("equal" if not wrong else "DIFFER in " + ", ".join(wrong)))
        ok = ok and not wrong
    goal = ratio <= GOAL_RATIO and memory < GOAL_MEMORY_MIB
    print(f"goal (report <= {GOAL_RATIO:g} x aggregate, memory < 1 GiB): {'MET' if goal else 'NOT MET'}")
    return ok


if __name__ == "__main__":
    sys.exit(main())
