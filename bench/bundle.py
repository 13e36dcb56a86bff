"""Evidence-bundle and evidence-chain benchmark (issue 6, Performance).

    python bench/bundle.py [--events 1000000] [--skip-demo] [--skip-synthetic] [--skip-chain] [--keep]

1. **Demo household.** A fresh SQLite database with the real migrations
   (``bench/out/bundle.sqlite3``, data in ``bench/out/bundle-data/``), the demo estate
   loaded with ``load_demo`` as of today; the household with the longest history (the
   most evidence events) is exported with ``export_bundle`` and its bundle checked with
   ``verify_bundle``; both timed.
2. **Synthetic household** in the same database: a unit imported through the real
   import path with 120 monthly charges (10 years ending last month) and a payment
   every 6 months; 500 contacts through ``log_contact`` (one a week, 10:00 local, so
   that the contact policy allows them); 40 notices through ``issue_notice`` (the real
   path: statement, template, WeasyPrint, signature, storage; as of every third month
   of the last 10 years, the last ones as demands) and a delivery with a scanned slip
   for every second one through ``record_delivery``. Then ``export_bundle`` and
   ``verify_bundle``, timed. Goal: the export in under 10 s.
3. **verify-chain over ``--events`` events.** A second fresh SQLite database
   (``bench/out/chain.sqlite3``, real migrations) filled with ``--events`` events made
   with ``arrears.domain.evidence.seal`` (a realistic mix of kinds, units and data) and
   bulk-inserted with ``executemany`` (not through ``append_event``). Timed in
   ``CHAIN_ROUNDS`` interleaved rounds (this machine's speed drifts between minutes),
   best of each:
   (a) ``arrears.services.evidence.verify_chain`` as ``verify-chain`` runs it (the quick
   scan in one worker process per CPU, up to 4),
   (b) the bare baseline: ``hashlib.sha256(line).hexdigest()`` for every event over the
   exact bytes its hash covers (``prev_hash + "\\n" + canonical_json(event)``), prepared
   a chunk at a time outside the timing; and the ratio (a)/(b), best against best and the
   median of the rounds' own ratios. Goal: within 3×.
   For comparison, each with its ratio: the quick scan in this one process
   (``workers=1``) and the exact pass alone (what a short chain or a broken one gets),
   checked to agree with ``verify_events`` on the generated chain.

Prints every figure with PASS/FAIL; docs/bundles.md records them. ``--keep`` keeps the
databases and data folders (else they are deleted at the end).
"""
import argparse
import hashlib
import json
import os
import shutil
import sqlite3
import sys
import time
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
OUT = os.path.join(ROOT, "bench", "out")
SHANGHAI = ZoneInfo("Asia/Shanghai")
JPEG = b"\xff\xd8\xff\xe0" + b"scanned acknowledgement slip " * 2000  # ~58 KB
BUNDLE_GOAL_SECONDS = 10.0
CHAIN_GOAL_RATIO = 3.0
CHAIN_ROUNDS = 5


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--skip-demo", action="store_true")
    parser.add_argument("--skip-synthetic", action="store_true")
    parser.add_argument("--skip-chain", action="store_true")
    parser.add_argument("--keep", action="store_true")
    return parser.parse_args(argv)


def fresh_app(name):
    """An app on a fresh, migrated SQLite database ``bench/out/<name>.sqlite3``."""
    from flask_migrate import upgrade

    from arrears import create_app
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, f"{name}.sqlite3")
    data_dir = os.path.join(OUT, f"{name}-data")
    for leftover in (path, path + "-wal", path + "-shm"):
        if os.path.exists(leftover):
            os.remove(leftover)
    shutil.rmtree(data_dir, ignore_errors=True)
    os.makedirs(data_dir)
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}", "ARREARS_DATA_DIR": data_dir})
    with app.app_context():
        upgrade()
    return app, path, data_dir


def timed(function, *args, **kwargs):
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - start


def timed_cpu(function, *args, **kwargs):
    """``(result, wall seconds, CPU seconds of this process)``: on a shared machine the CPU
    time is the steadier figure (the export runs in this one process)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - wall, time.process_time() - cpu


def load():
    return "load average " + " ".join(f"{v:.1f}" for v in os.getloadavg()) + f" on {os.cpu_count()} CPU(s)"


def verdict(ok):
    return "PASS" if ok else "FAIL"


# -- bundles ----------------------------------------------------------------------------------------

def export_and_verify(app, unit, label):
    from arrears.services.bundles import verify_bundle
    from arrears.services.bundles import export_bundle
    (data, _export), seconds, cpu = timed_cpu(export_bundle, unit, "bench")
    problems, verify_seconds = timed(verify_bundle, data, app.config["ARREARS_DATA_DIR"])
    import io
    import zipfile
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        pages = index_pages(archive.read("index.pdf"))
    print(f"{label}: {unit.ref}: bundle {len(data) / 1e6:.1f} MB, {len(names)} files, index {pages} pages; "
          f"export {seconds:.2f} s wall ({cpu:.2f} s CPU), verify-bundle {verify_seconds:.2f} s, "
          f"problems {len(problems)}; {load()}", flush=True)
    for problem in problems:
        print(f"  PROBLEM {problem}")
    return seconds, cpu, verify_seconds, problems


def index_pages(pdf):
    import io

    from pypdf import PdfReader
    return len(PdfReader(io.BytesIO(pdf)).pages)


def demo_household(app):
    from sqlalchemy import func, select

    from arrears.extensions import db
    from arrears.models import EvidenceEvent
    from arrears.services.demo import load_demo
    from arrears.services.ledger import find_unit
    _, seconds = timed(load_demo)
    ref, events = db.session.execute(
        select(EvidenceEvent.unit, func.count()).where(EvidenceEvent.unit.is_not(None))
        .group_by(EvidenceEvent.unit).order_by(func.count().desc(), EvidenceEvent.unit).limit(1)).one()
    print(f"demo loaded in {seconds:.1f} s; longest history: {ref} ({events} events)", flush=True)
    return find_unit(ref)


def synthetic_household(app, tmp_dir):
    from arrears.services.collection import log_contact
    from arrears.services.imports import import_file
    from arrears.services.ledger import find_unit, local_today
    from arrears.services.notices import DeliveryInput, issue_notice, record_delivery
    today = local_today()
    first = date(today.year - 10, today.month, 1)
    periods = []
    year, month = first.year, first.month
    for _ in range(120):
        periods.append((year, month))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    estate, building, number = "基准花园", "1栋", "0101"
    files = {
        "units": "estate,building,unit,area_m2,owner_name,owner_phone\n"
                 f"{estate},{building},{number},96.40,王芳,13911112222\n",
        "charges": "estate,building,unit,period,fee_item,amount,due_date\n" + "".join(
            f"{estate},{building},{number},{y}-{m:02d},物业管理费,289.20,{last_day(y, m).isoformat()}\n"
            for y, m in periods),
        "payments": "estate,building,unit,amount,paid_on,method,reference\n" + "".join(
            f"{estate},{building},{number},{600 + i}.00,{date(y, m, 10).isoformat()},wechat,BENCH{i:04d}\n"
            for i, (y, m) in enumerate(periods[3::6])),
    }
    start = time.perf_counter()
    for kind, text in files.items():
        path = os.path.join(tmp_dir, f"{kind}.csv")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
        import_file(kind, path, "bench")
    unit = find_unit(f"{estate}/{building}/{number}")
    imported = time.perf_counter() - start
    start = time.perf_counter()
    contact_day = today - timedelta(days=7 * 500)
    for n in range(500):
        log_contact(unit, channel=("phone", "sms", "visit", "wechat")[n % 4],
                    contacted_at=datetime.combine(contact_day, datetime.min.time().replace(hour=10), SHANGHAI),
                    reached=("owner", "nobody")[n % 2],
                    outcome=("承诺月底缴纳", "无人接听", "=HYPERLINK(\"x\")", "对电梯维修有意见")[n % 4], actor="bench",
                    notes=f"第 {n + 1} 次联系")
        contact_day += timedelta(days=7)
    contacted = time.perf_counter() - start
    start = time.perf_counter()
    for n in range(40):
        y, m = periods[min(119, 3 * n + 2)]
        as_of = min(last_day(y, m), today)
        kind = "reminder" if n < 20 else ("demand" if n < 38 else "final")
        notice = issue_notice(unit, kind, as_of, "bench")
        if n % 2:
            record_delivery(notice.serial, DeliveryInput(method="hand_signed", outcome="delivered", attempted_on=today,
                                                         signer="王芳", relation="owner"), "bench",
                            [("slip.jpg", JPEG)])
    noticed = time.perf_counter() - start
    print(f"synthetic household: imported 120 charges and 20 payments in {imported:.1f} s, 500 contacts in "
          f"{contacted:.1f} s, 40 notices (20 delivered with a proof) in {noticed:.1f} s", flush=True)
    return unit


def last_day(year, month):
    following = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    return following - timedelta(days=1)


# -- the chain --------------------------------------------------------------------------------------

KINDS = ("charge_billed", "payment_posted", "contact_logged", "notice_issued", "delivery_recorded")


def event_body(n, rng_units=3000):
    unit = f"示例花园/{1 + n % 20}栋/{100 + n % 150:04d}" if n % 17 else None
    kind = KINDS[n % len(KINDS)]
    if kind == "charge_billed":
        data = {"charge_id": n, "period": f"{2016 + n % 10}-{1 + n % 12:02d}", "fee_item": "物业管理费",
                "amount": f"{200 + n % 300}.00", "due_date": f"{2016 + n % 10}-{1 + n % 12:02d}-28"}
    elif kind == "payment_posted":
        data = {"payment_id": n, "amount": f"{100 + n % 900}.50", "paid_on": "2026-03-02", "method": "wechat",
                "reference": f"WX{n:010d}", "periods": []}
    elif kind == "contact_logged":
        data = {"contact_id": n, "channel": "phone", "contacted_at": "2026-03-02T02:00:00Z", "reached": "owner",
                "outcome": "承诺月底缴纳", "reason": None, "notes": None, "policy_breach": False}
    elif kind == "notice_issued":
        data = {"serial": f"SL-2026-{n % 1000000:06d}", "kind": "demand", "as_of": "2026-05-31",
                "sha256": hashlib.sha256(str(n).encode()).hexdigest(), "total": "544.30",
                "charges": [{"charge_id": n - 1, "period": "2026-01", "principal": "200.00", "late_fee": "44.30"}]}
    else:
        data = {"serial": f"SL-2026-{n % 1000000:06d}", "method": "hand_signed", "outcome": "delivered",
                "date": "2026-06-01", "signer": "张伟", "relation": "owner", "proofs": []}
    return kind, ("clerk" if n % 3 else "system"), unit, data


def generate_chain(path, count):
    from arrears.domain.evidence import GENESIS, canonical_json, seal
    start = time.perf_counter()
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=OFF")
    base = datetime(2016, 1, 1, tzinfo=timezone.utc)
    prev_hash, rows = GENESIS, []
    insert = ("INSERT INTO evidence_events (seq, at, kind, actor, unit, data, prev_hash, hash) "
              "VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
    for n in range(1, count + 1):
        kind, actor, unit, data = event_body(n)
        at = (base + timedelta(seconds=300 * n)).isoformat(timespec="microseconds").replace("+00:00", "Z")
        event = seal(n, at, kind, actor, unit, data, prev_hash)
        rows.append((n, at, kind, actor, unit, canonical_json(data), prev_hash, event["hash"]))
        prev_hash = event["hash"]
        if len(rows) == 50_000:
            connection.executemany(insert, rows)
            rows = []
    if rows:
        connection.executemany(insert, rows)
    connection.commit()
    connection.close()
    return time.perf_counter() - start


def raw_rows(session, batch=5000):
    from sqlalchemy import text
    result = session.execute(text("SELECT seq, at, kind, actor, unit, data, prev_hash, hash FROM evidence_events "
                                  "ORDER BY seq").execution_options(yield_per=batch))
    yield from result


def bare_hashing(session, chunk=100_000):
    """``(seconds, lines, bytes)``: the time to sha256 every event's hashed bytes
    (``prev_hash + "\\n" + canonical_json(event)``, made from the parsed event as ``seal``
    made them), prepared outside the timing a chunk at a time."""
    from arrears.domain.evidence import FIELDS, canonical_json
    sha256 = hashlib.sha256
    total, pending, count, nbytes = 0.0, [], 0, 0

    def flush():
        nonlocal total
        start = time.perf_counter()
        for line in pending:
            sha256(line).hexdigest()
        total += time.perf_counter() - start
        pending.clear()

    for row in raw_rows(session):
        body = dict(zip(FIELDS, (row.seq, row.at, row.kind, row.actor, row.unit, json.loads(row.data),
                                 row.prev_hash)))
        line = (row.prev_hash + "\n" + canonical_json(body)).encode("utf-8")
        pending.append(line)
        count += 1
        nbytes += len(line)
        if len(pending) == chunk:
            flush()
    flush()
    return total, count, nbytes


def chain_benchmark(count, keep):
    from arrears.domain.evidence import verify_events
    from arrears.extensions import db
    from arrears.services.evidence import iter_events, verify_chain
    app, path, data_dir = fresh_app("chain")
    seconds = generate_chain(path, count)
    print(f"chain: {count} events generated with seal() and bulk-inserted in {seconds:.1f} s "
          f"({os.path.getsize(path) / 1e6:.0f} MB)", flush=True)
    workers = min(os.cpu_count() or 1, 4)
    with app.app_context():
        session = db.session
        print(load(), flush=True)
        # Interleaved rounds: the machine's speed drifts by a quarter between minutes here,
        # so each verify-chain run is paired with a bare-hashing run right after it.
        rounds = []
        for _ in range(CHAIN_ROUNDS):
            checked, verify_seconds = timed(verify_chain)
            session.rollback()
            bare_seconds, hashed, nbytes = bare_hashing(session)
            session.rollback()
            rounds.append((verify_seconds, bare_seconds))
        verify_seconds = min(run[0] for run in rounds)
        bare_seconds = min(run[1] for run in rounds)
        ratio = verify_seconds / bare_seconds
        paired = sorted(run[0] / run[1] for run in rounds)
        print(f"verify-chain (services.evidence.verify_chain, quick scan in {workers} worker processes), best of "
              f"{CHAIN_ROUNDS}: {checked} events in {verify_seconds:.2f} s ({verify_seconds / checked * 1e6:.2f} µs/event)")
        print(f"bare sha256 over the same bytes, best of {CHAIN_ROUNDS}: {hashed} lines, "
              f"{nbytes / 1e6:.0f} MB, {bare_seconds:.2f} s ({bare_seconds / count * 1e6:.2f} µs/event)")
        print("  rounds (verify-chain s, bare s): " + ", ".join(f"({v:.2f}, {b:.2f})" for v, b in rounds))
        print(f"ratio verify-chain / bare hashing: {ratio:.2f}x best/best, {paired[len(paired) // 2]:.2f}x median "
              f"of the paired rounds ({', '.join(f'{value:.2f}' for value in paired)}) "
              f"(goal <= {CHAIN_GOAL_RATIO:.0f}x) {verdict(ratio <= CHAIN_GOAL_RATIO)}", flush=True)
        for label, options in (("quick scan in this one process (workers=1)", {"workers": 1}),
                               ("exact pass alone (a short or a broken chain)", {"quick_from": count + 1})):
            result, seconds = timed(verify_chain, **options)
            session.rollback()
            assert result == checked == count
            print(f"  {label}: {seconds:.2f} s, {seconds / bare_seconds:.1f}x bare", flush=True)
        assert verify_events(iter_events()) == count
        session.rollback()
        print("  (all three agree with verify_events over the parsed events)", flush=True)
        db.engine.dispose()
    if not keep:
        for leftover in (path, path + "-wal", path + "-shm"):
            if os.path.exists(leftover):
                os.remove(leftover)
        shutil.rmtree(data_dir, ignore_errors=True)
    return ratio


def main(argv=None):
    args = parse_args(argv)
    failed = False
    if not (args.skip_demo and args.skip_synthetic):
        app, path, data_dir = fresh_app("bundle")
        with app.app_context():
            from arrears.extensions import db
            if not args.skip_demo:
                unit = demo_household(app)
                export_and_verify(app, unit, "demo household (first export: print resources and signer load)")
                _seconds, _cpu, _verify, problems = export_and_verify(app, unit, "demo household")
                failed |= bool(problems)
            if not args.skip_synthetic:
                tmp_dir = os.path.join(data_dir, "import")
                os.makedirs(tmp_dir, exist_ok=True)
                unit = synthetic_household(app, tmp_dir)
                runs = [export_and_verify(app, unit, "synthetic household") for _ in range(3)]
                failed |= any(run[3] for run in runs)
                seconds, cpu = min(run[0] for run in runs), min(run[1] for run in runs)
                print(f"synthetic bundle export, best of 3: {seconds:.2f} s wall, {cpu:.2f} s CPU "
                      f"(goal < {BUNDLE_GOAL_SECONDS:.0f} s) {verdict(seconds < BUNDLE_GOAL_SECONDS)} wall, "
                      f"{verdict(cpu < BUNDLE_GOAL_SECONDS)} CPU", flush=True)
            db.engine.dispose()
        if not args.keep:
            for leftover in (path, path + "-wal", path + "-shm"):
                if os.path.exists(leftover):
                    os.remove(leftover)
            shutil.rmtree(data_dir, ignore_errors=True)
    if not args.skip_chain:
        failed |= chain_benchmark(args.events, args.keep) > CHAIN_GOAL_RATIO
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
