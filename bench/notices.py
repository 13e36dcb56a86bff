"""Notice benchmark: demand notices through the real batch path against bare WeasyPrint.

    python bench/notices.py [--count 500] [--small 100] [--workers 1,2] [--runs 2]
                            [--db PATH_OR_URL] [--keep] [--profile N]

1. Builds a fresh database with the real migrations (``flask_migrate.upgrade``), as
   bench/ledger.py does: by default ``bench/out/notices.sqlite3`` (git-ignored); ``--db``
   takes a file path or a URL. A PostgreSQL database given here is WIPED (its ``public``
   schema is dropped); ``test`` and ``postgres`` are refused. Loads the demo estate into
   it with ``load_demo`` (what ``flask --app wsgi arrears demo`` does), as of today.
   Documents, keys and the stamp-font cache go to ``bench/out/notices-data/``.
2. The households to serve: every demo unit that owes something on the as-of date
   (``notice_figures`` lists at least one charge; 358 of the demo's 376 units). The
   demo has fewer such households than ``--count``, and a batch holds each household
   once (``uq_notice_batch_items_batch_unit``), so the notices are issued as several
   batches run one after another: batch 1 serves every household in arrears, batch 2
   the first ``count - 358`` of them again, and so on. Each batch is made by the real
   ``create_batch(kind="demand", stage="demand", ...)``, with only its household list
   (``households_in_stage``) replaced by that list, and issued by the real
   ``run_batch(batch_id, workers=W)``: in this process for one worker, over a spawn
   process pool otherwise, each notice by ``issue_item`` → ``issue_notice``
   (statement, serial, template, WeasyPrint layout and PDF, seal box, pyHanko
   signature, storage by SHA-256, rows, evidence event), then ``merge_print_file``.
3. The bare baseline: for the same households in the same order, the notice's context
   is built as ``issue_notice`` builds it (``notice_figures``, ``notice_context``, a
   placeholder serial, the chain head) and turned into HTML with ``render_html`` —
   before and outside any timing; those costs are printed per notice. The timed part is
   only ``HTML(string=html, base_url=notices/).write_pdf(stylesheets=[print.css],
   font_config=...)`` with one ``FontConfiguration`` and ``CSS`` per process, as
   ``render_document`` keeps them: no statement, no template, no signature, no storage.
   One worker runs in the measuring process; more run over a spawn process pool that
   is started inside the timing (as ``run_batch``'s is).
4. Every configuration (real/bare × each ``--workers``) runs in a fresh child process
   (so that its memory is its own), interleaved, ``--runs`` times at ``--count`` and
   once at ``--small`` (to show that the peak does not grow with the batch). On SQLite
   each real run starts from a copy of the freshly loaded database and an empty file
   store; on PostgreSQL the notices of earlier runs stay (serials keep counting).
   Peak memory is the high-water mark of resident memory, ``VmHWM``: of the measuring
   process, and of each pool worker read from ``/proc`` four times a second while it
   runs (not ``ru_maxrss``: Linux carries it across ``execve``, so a process started by
   fork + exec reports at least the size of the process it was forked from).
5. Prints every run with the load average, then a table of the best run of each
   configuration: notices per second, the ratio real / bare per core (goal >= 0.7),
   the speed-up of the real path from its fewest to its most workers (goal >= 1.6x),
   and the peak memory at both batch sizes (goal < 600 MB), with PASS/FAIL. The
   real path's rate is that of issuing, the start and shut-down of the pool included;
   the print file's merge is timed apart and shown next to it. With one worker both
   paths run in a process already warm (print resources, signer), as a service's is;
   with more, the pool's workers warm up inside the timing.

``--profile N`` then issues N more notices with each ``--workers``, with the stages of
the real path wrapped in timers (wall and CPU time, in the process that issues the
notice; SQL statements through SQLAlchemy's cursor events) and prints where the time
goes, in ms a notice. cProfile is not used for this: its overhead on WeasyPrint's pure
Python layout distorts the shares. ``--keep`` keeps the database and data folder
(else they are deleted / the schema dropped at the end). Exit status 1 when a run did
not issue or render what it should have.
"""
import argparse
import json
import os
import pickle
import shutil
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OUT = os.path.join(HERE, "out")
DATA_DIR = os.path.join(OUT, "notices-data")
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
if HERE not in sys.path:
    sys.path.insert(0, HERE)

KIND = "demand"
LANGUAGE = "zh_CN"
ACTOR = "bench-notices"
GOAL_RATIO = 0.7
GOAL_SPEEDUP = 1.6
GOAL_MEMORY_MB = 600
PLACEHOLDER_SERIES = 900000  # bare notices get serials SL-YYYY-9xxxxx, never taken from the counter


# -- command line ---------------------------------------------------------------------------

def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=500, help="notices per run (default 500)")
    parser.add_argument("--small", type=int, default=100,
                        help="a smaller batch run once per configuration first, for memory (0: none)")
    parser.add_argument("--workers", default="1,2", help="comma-separated process counts (default 1,2)")
    parser.add_argument("--runs", type=int, default=2, help="runs of each configuration at --count")
    parser.add_argument("--db", help="SQLite file path or database URL (default: bench/out/notices.sqlite3). "
                                     "A PostgreSQL database given here is wiped.")
    parser.add_argument("--keep", action="store_true", help="keep the database and data folder afterwards")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="afterwards, issue N notices with each --workers with stage timers and "
                             "print where the time goes")
    parser.add_argument("--measure-child", metavar="SPEC_JSON", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        args.workers = sorted({int(w) for w in args.workers.split(",")})
    except ValueError:
        parser.error("--workers takes numbers separated by commas, e.g. 1,2")
    if args.count < 1 or args.runs < 1 or args.small < 0 or args.workers[0] < 1:
        parser.error("--count, --runs and --workers must be at least 1")
    return args


def resolve_db(args):
    """``(SQLAlchemy URL, SQLite path or None, label)``; the default lives in bench/out/."""
    import ledger
    if not args.db:
        os.makedirs(OUT, exist_ok=True)
        path = os.path.join(OUT, "notices.sqlite3")
        return f"sqlite:///{path}", path, os.path.basename(path)
    return ledger.resolve_db(args)


def make_app(url):
    from arrears import create_app
    os.makedirs(DATA_DIR, exist_ok=True)
    return create_app({"SQLALCHEMY_DATABASE_URI": url, "ARREARS_DATA_DIR": DATA_DIR})


def load_average():
    with open("/proc/loadavg") as handle:
        return [float(x) for x in handle.read().split()[:3]]


# -- memory ---------------------------------------------------------------------------------

def vm_hwm_mb(pid="self"):
    """Peak resident memory (``VmHWM``) of a process in MB, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def worker_pids():
    """The pool workers among this process's children (not the resource tracker)."""
    me = str(os.getpid())
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            if fields[1] != me:
                continue
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                if b"spawn_main" in handle.read():
                    found.append(int(entry))
        except OSError:
            continue
    return found


class WorkerWatch:
    """Reads every pool worker's ``VmHWM`` four times a second; keeps the highest."""

    def __init__(self, active=True):
        self.peaks = {}
        self.active = active
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        if self.active:  # with no pool there is nothing to watch (and no CPU to spend on it)
            self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self.active:
            self._thread.join()

    def _run(self):
        while not self._stop.wait(0.25):
            for pid in worker_pids():
                peak = vm_hwm_mb(pid)
                if peak is not None:
                    self.peaks[pid] = max(peak, self.peaks.get(pid, 0.0))


def memory_report(watch):
    """Peak resident memory in MB of the measuring process and of each pool worker.

    ``VmHWM``, not ``ru_maxrss``: Linux keeps ``ru_maxrss`` across ``execve``, so a
    process started by fork + exec (``subprocess``, a spawn pool's worker) reports at
    least the resident size of the process it was forked from."""
    return {"parent_mb": vm_hwm_mb(), "workers_mb": sorted((round(v, 1) for v in watch.peaks.values()),
                                                            reverse=True)}


def cpu_seconds():
    """CPU time (user + system) of this process and of its children that have exited."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def peak_of(result):
    return max([result["parent_mb"]] + result["workers_mb"])


# -- the plan: which household each notice goes to --------------------------------------------

def households_in_arrears(as_of):
    """Unit ids that ``issue_notice`` would serve on ``as_of``, in the batches' walk order."""
    from sqlalchemy import select
    from arrears.extensions import db
    from arrears.models import Unit
    from arrears.services.batches import _walk_order
    from arrears.services.notices import notice_figures
    units = db.session.execute(select(Unit)).scalars().all()
    owing = [u for u in units if notice_figures(u, as_of)[1]]
    return [u.id for u in sorted(owing, key=lambda u: _walk_order(u.ref))]


def batches_for(count, owing):
    """The unit ids of each batch: every household in arrears, then again, until ``count``."""
    batches, left = [], count
    while left > 0:
        batches.append(owing[:left])
        left -= len(batches[-1])
    return batches


def make_batches(plan, as_of):
    """One real batch per list of ``plan`` (``create_batch`` with its household list
    replaced by that list). Returns the batch ids."""
    from unittest import mock
    from arrears.services import batches
    ids = []
    for unit_ids in plan:
        with mock.patch.object(batches, "households_in_stage", lambda *a, unit_ids=unit_ids, **k: list(unit_ids)):
            ids.append(batches.create_batch(KIND, "demand", as_of, ACTOR, LANGUAGE).id)
    return ids


def build_html(plan, as_of):
    """The HTML of every planned notice, made as ``issue_notice`` makes it (placeholder
    serials). Returns ``(htmls, seconds in statements, seconds in templates)``."""
    from arrears.documents.render import render_html
    from arrears.extensions import db
    from arrears.models import Unit
    from arrears.services.ledger import local_today
    from arrears.services.notices import _head, notice_context, notice_figures
    htmls, in_statement, in_template = [], 0.0, 0.0
    number = PLACEHOLDER_SERIES
    for unit_ids in plan:
        for unit_id in unit_ids:
            unit = db.session.get(Unit, unit_id)
            today = local_today(unit.building.estate.timezone)
            t0 = time.perf_counter()
            statement, lines = notice_figures(unit, as_of)
            t1 = time.perf_counter()
            number += 1
            serial = f"SL-{today.year}-{number:06d}"
            chain, _seq, _digest = _head()
            context = notice_context(unit, KIND, as_of, serial, today, statement, lines, chain)
            htmls.append(render_html("notice.html", context, LANGUAGE))
            t2 = time.perf_counter()
            in_statement += t1 - t0
            in_template += t2 - t1
    return htmls, in_statement, in_template


def warm_up(unit_id, as_of):
    """Render and sign one notice (not stored): the signing key pair and the stamp font
    are made once per data folder and kept on disk, as in service."""
    from arrears.extensions import db
    from arrears.models import Unit
    from arrears.services.notices import _head, make_pdf, notice_context, notice_figures
    unit = db.session.get(Unit, unit_id)
    statement, lines = notice_figures(unit, as_of)
    context = notice_context(unit, KIND, as_of, f"SL-{as_of.year}-{PLACEHOLDER_SERIES:06d}", as_of,
                             statement, lines, _head()[0])
    make_pdf("notice.html", context, LANGUAGE, reason="warm-up", location=context["office"]["name"])


# -- database --------------------------------------------------------------------------------

def snapshot_path(sqlite_path):
    return sqlite_path + ".loaded"


def restore(sqlite_path):
    """Put back the freshly loaded database and empty the file store (SQLite only: on
    PostgreSQL the earlier runs' notices and files stay)."""
    if sqlite_path:
        shutil.rmtree(os.path.join(DATA_DIR, "files"), ignore_errors=True)
        for suffix in ("-journal", "-wal", "-shm"):
            if os.path.exists(sqlite_path + suffix):
                os.remove(sqlite_path + suffix)
        shutil.copyfile(snapshot_path(sqlite_path), sqlite_path)


# -- the measuring child ---------------------------------------------------------------------

def measure_real(spec):
    """Issue the spec's notices through create_batch + run_batch; time it."""
    from sqlalchemy import func, select
    from arrears.documents.render import print_resources
    from arrears.documents.signing import app_signer
    from arrears.extensions import db
    from arrears.models import Notice
    from arrears.services import batches
    from arrears.services.batches import run_batch
    from datetime import date

    app = make_app(spec["url"])
    if spec.get("stages"):
        app.config["ARREARS_BENCH_STAGES"] = spec["stages"]  # handed to the workers with the config
        install_stage_timers(spec["stages"])
        batches._start_worker = start_worker_with_timers
    with app.app_context():
        as_of = date.fromisoformat(spec["as_of"])
        batch_ids = make_batches(spec["plan"], as_of)
        before = db.session.execute(select(func.count(Notice.id))).scalar_one()
        # Warm as a running service is: the print resources and the signer are per process.
        print_resources()
        app_signer()
        db.session.remove()
        issuing = merging = 0.0
        merge_print_file = batches.merge_print_file
        marks = {}

        def timed_merge(batch_id):
            marks["merge"] = time.perf_counter()
            marks["merge_cpu"] = cpu_seconds()  # the pool's workers have exited by now
            return merge_print_file(batch_id)

        batches.merge_print_file = timed_merge  # timed apart; run_batch calls it as before
        cpu = 0.0
        with WorkerWatch(spec["workers"] > 1) as watch:
            for batch_id in batch_ids:
                started, started_cpu = time.perf_counter(), cpu_seconds()
                run_batch(batch_id, workers=spec["workers"],
                          progress=lambda done, total: marks.__setitem__("last", time.perf_counter()))
                ended = time.perf_counter()
                # Issuing ends when the pool has shut down (its workers exited): part of the batch.
                issuing += marks["merge"] - started
                cpu += marks["merge_cpu"] - started_cpu
                merging += ended - marks["merge"]
        batches.merge_print_file = merge_print_file
        issued = db.session.execute(select(func.count(Notice.id))).scalar_one() - before
        db.session.remove()
    result = {"seconds": issuing, "cpu_seconds": cpu, "merge_seconds": merging, "done": issued, "batches": len(batch_ids),
              **memory_report(watch)}
    if spec.get("stages"):
        result["stages"] = collect_stages(spec["stages"])
    return result


_bare_resources = None


def _bare_start():
    global _bare_resources
    from weasyprint import CSS
    from weasyprint.text.fonts import FontConfiguration
    from arrears.documents.render import STYLESHEET
    font_config = FontConfiguration()
    _bare_resources = (font_config, CSS(filename=STYLESHEET, font_config=font_config))


def bare_pdf(html):
    """Bare WeasyPrint: the PDF's size in bytes (the bytes themselves are thrown away)."""
    from weasyprint import HTML
    from arrears.documents.render import NOTICES_DIR
    font_config, stylesheet = _bare_resources
    pdf = HTML(string=html, base_url=NOTICES_DIR + os.sep).write_pdf(stylesheets=[stylesheet],
                                                                   font_config=font_config)
    return len(pdf)


def measure_bare(spec):
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed
    with open(spec["html_file"], "rb") as handle:
        htmls = pickle.load(handle)[:spec["count"]]
    sizes = []
    with WorkerWatch(spec["workers"] > 1) as watch:
        if spec["workers"] <= 1:
            _bare_start()
            started, started_cpu = time.perf_counter(), cpu_seconds()
            sizes = [bare_pdf(html) for html in htmls]
        else:
            started, started_cpu = time.perf_counter(), cpu_seconds()
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=spec["workers"], mp_context=context,
                                     initializer=_bare_start) as pool:
                futures = [pool.submit(bare_pdf, html) for html in htmls]
                sizes = [future.result() for future in as_completed(futures)]
        seconds = time.perf_counter() - started
    cpu = cpu_seconds() - started_cpu  # after the pool's shut-down: its workers' CPU included
    return {"seconds": seconds, "cpu_seconds": cpu, "merge_seconds": 0.0, "done": sum(1 for s in sizes if s > 1000),
            "pdf_bytes": sum(sizes), **memory_report(watch)}


def measure_child(spec_path):
    with open(spec_path) as handle:
        spec = json.load(handle)
    result = measure_real(spec) if spec["mode"] == "real" else measure_bare(spec)
    with open(spec["result_file"], "w") as handle:
        json.dump(result, handle)
    return 0


def run_child(spec):
    """Run one configuration in a fresh process; its result with the load averages."""
    os.makedirs(OUT, exist_ok=True)
    spec_path = os.path.join(OUT, f"notices-spec-{os.getpid()}.json")
    spec["result_file"] = os.path.join(OUT, f"notices-result-{os.getpid()}.json")
    with open(spec_path, "w") as handle:
        json.dump(spec, handle)
    load_before = load_average()
    completed = subprocess.run([sys.executable, os.path.abspath(__file__), "--measure-child", spec_path])
    load_after = load_average()
    if completed.returncode != 0:
        sys.exit(f"the measuring process failed ({spec['mode']}, {spec['workers']} worker(s))")
    with open(spec["result_file"]) as handle:
        result = json.load(handle)
    os.remove(spec_path)
    os.remove(spec["result_file"])
    result["load"] = [load_before[0], load_after[0]]
    return result


# -- where the time goes -----------------------------------------------------------------------

# (label, module, attribute): each is wrapped to add up its wall and CPU time per process.
STAGES = (
    ("whole notice (issue_item)", "arrears.services.batches", "issue_item"),
    ("statement (notice_figures)", "arrears.services.notices", "notice_figures"),
    ("serial (its own transaction)", "arrears.services.notices", "next_serial"),
    ("chain head read", "arrears.services.notices", "_head"),
    ("context (notice_context)", "arrears.services.notices", "notice_context"),
    ("template (render_html)", "arrears.documents.render", "render_html"),
    ("  of which the QR code", "arrears.documents.render", "qr_data_uri"),
    ("layout (WeasyPrint HTML.render)", "weasyprint", "HTML.render"),
    ("seal box", "arrears.documents.render", "_seal_box"),
    ("PDF writing (Document.write_pdf)", "weasyprint.document", "Document.write_pdf"),
    ("signing (sign_pdf)", "arrears.documents.signing", "sign_pdf"),
    ("storing (store_file)", "arrears.services.notices", "store_file"),
    ("evidence event (append_event)", "arrears.services.notices", "append_event"),
    ("commits (Session.commit)", "sqlalchemy.orm", "Session.commit"),
    ("SQL statements (cursor execute)", None, "sql"),
)
_stage_totals = {}


def _add(label, wall, cpu):
    entry = _stage_totals.setdefault(label, [0.0, 0.0, 0])
    entry[0] += wall
    entry[1] += cpu
    entry[2] += 1


def _timed(label, function):
    import functools

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        wall, cpu = time.perf_counter(), time.thread_time()
        try:
            return function(*args, **kwargs)
        finally:
            _add(label, time.perf_counter() - wall, time.thread_time() - cpu)
    return wrapper


def install_stage_timers(prefix):
    """Wrap the stages of ``STAGES`` in this process; after every notice, write the
    totals to ``<prefix>-<pid>.json``. Must run before the print environment is made
    (it keeps the QR filter it was made with)."""
    import importlib
    from sqlalchemy import event
    from sqlalchemy.engine import Engine
    for label, module_name, attribute in STAGES:
        if module_name is None:
            continue
        owner = importlib.import_module(module_name)
        *path, name = attribute.split(".")
        for part in path:
            owner = getattr(owner, part)
        setattr(owner, name, _timed(label, getattr(owner, name)))

    @event.listens_for(Engine, "before_cursor_execute")
    def _before(conn, cursor, statement, parameters, context, executemany):
        conn.info.setdefault("bench_started", []).append((time.perf_counter(), time.thread_time()))

    @event.listens_for(Engine, "after_cursor_execute")
    def _after(conn, cursor, statement, parameters, context, executemany):
        wall, cpu = conn.info["bench_started"].pop()
        _add("SQL statements (cursor execute)", time.perf_counter() - wall, time.thread_time() - cpu)

    from arrears.services import batches
    issue_item = batches.issue_item

    def issue_and_dump(item_id):
        try:
            return issue_item(item_id)
        finally:
            with open(f"{prefix}-{os.getpid()}.json", "w") as handle:
                json.dump(_stage_totals, handle)
    batches.issue_item = issue_and_dump


def start_worker_with_timers(config):
    """A pool worker of ``run_batch`` with the stage timers (the batch's own initializer first)."""
    from arrears.services import batches
    install_stage_timers(config["ARREARS_BENCH_STAGES"])
    batches._start_worker(config)


def collect_stages(prefix):
    """``{label: [wall, cpu, calls]}`` summed over the processes of one run; removes the files."""
    import glob
    totals = {}
    for path in glob.glob(f"{prefix}-*.json"):
        with open(path) as handle:
            for label, values in json.load(handle).items():
                entry = totals.setdefault(label, [0.0, 0.0, 0])
                for i in range(3):
                    entry[i] += values[i]
        os.remove(path)
    return totals


def print_stages(runs):
    """``runs``: ``[(title, count, wall seconds, {label: [wall, cpu, calls]})]``."""
    print()
    print("where the time goes, real path, ms a notice (wall in the process that issues it / its CPU; "
          "nested stages overlap):")
    header = f"  {'stage':36}" + "".join(f" {title:>18}" for title, *_ in runs)
    print(header)
    for label, *_ in STAGES:
        cells = []
        for _title, count, _seconds, totals in runs:
            wall, cpu, _calls = totals.get(label, [0.0, 0.0, 0])
            cells.append(f"{wall / count * 1000:8.1f} / {cpu / count * 1000:6.1f}")
        print(f"  {label:36}" + "".join(f" {cell:>18}" for cell in cells))
    cells = [f"{seconds / count * 1000:8.1f}" for _title, count, seconds, _totals in runs]
    print(f"  {'wall clock of the batch / notices':36}" + "".join(f" {cell:>18}" for cell in cells))


# -- main ------------------------------------------------------------------------------------

def main(argv=None):
    args = parse_args(argv)
    if args.measure_child:
        return measure_child(args.measure_child)
    import ledger
    from arrears.extensions import db

    url, sqlite_path, label = resolve_db(args)
    print(f"database {label}; load average {' '.join(f'{x:.2f}' for x in load_average())} "
          f"on {os.cpu_count()} cores", flush=True)
    t0 = time.perf_counter()
    if sqlite_path and os.path.commonpath([os.path.abspath(sqlite_path), OUT]) != OUT \
            and os.path.exists(sqlite_path):
        sys.exit(f"refusing to replace {sqlite_path}: delete it yourself or give a new path")
    ledger.prepare_database(url, sqlite_path)
    shutil.rmtree(DATA_DIR, ignore_errors=True)
    app = make_app(url)
    with app.app_context():
        from arrears.services.demo import load_demo
        from arrears.services.ledger import local_today
        print(load_demo().splitlines()[0], flush=True)
        as_of = local_today()
        owing = households_in_arrears(as_of)
        print(f"demo loaded in {time.perf_counter() - t0:.0f} s; {len(owing)} households in arrears "
              f"as of {as_of}", flush=True)
        full_plan = batches_for(args.count, owing)
        t1 = time.perf_counter()
        htmls, in_statement, in_template = build_html(full_plan, as_of)
        made = time.perf_counter() - t1
        warm_up(full_plan[0][0], as_of)
        db.session.remove()
        db.engine.dispose()
    print(f"contexts and HTML of {len(htmls)} notices built in {made:.1f} s (untimed): statement "
          f"{in_statement / len(htmls) * 1000:.1f} ms, context + template {in_template / len(htmls) * 1000:.1f} ms "
          f"a notice; HTML {sum(map(len, htmls)) / len(htmls) / 1024:.0f} KiB a notice", flush=True)
    html_file = os.path.join(OUT, "notices-html.pickle")
    with open(html_file, "wb") as handle:
        pickle.dump(htmls, handle)
    del htmls
    if sqlite_path:
        shutil.copyfile(sqlite_path, snapshot_path(sqlite_path))

    sizes = ([args.small] if 0 < args.small < args.count else []) + [args.count]
    configurations = [(mode, workers) for workers in args.workers for mode in ("real", "bare")]
    results = {}
    ok = True
    for count in sizes:
        runs = args.runs if count == args.count else 1
        plan = batches_for(count, owing)
        for run in range(runs):
            for mode, workers in configurations:
                if mode == "real":
                    restore(sqlite_path)
                spec = {"mode": mode, "workers": workers, "count": count, "url": url, "as_of": as_of.isoformat(),
                        "plan": plan, "html_file": html_file}
                result = run_child(spec)
                results.setdefault((count, mode, workers), []).append(result)
                good = result["done"] == count
                ok = ok and good
                rate = count / result["seconds"]
                merge = f" + print file {result['merge_seconds']:.1f} s" if mode == "real" else ""
                print(f"  {count:4} {mode} x{workers}, run {run + 1}: {result['seconds']:6.1f} s{merge}, "
                      f"CPU {result['cpu_seconds'] / count * 1000:.0f} ms a notice, "
                      f"{rate:5.2f} notices/s; peak MB: parent {result['parent_mb']:.0f}, workers "
                      f"{result['workers_mb']}; load {result['load'][0]:.2f}"
                      f"->{result['load'][1]:.2f}" + ("" if good else f"  ONLY {result['done']} DONE"), flush=True)
    report(args, sizes, results)
    if args.profile:
        runs = []
        for workers in args.workers:
            restore(sqlite_path)
            spec = {"mode": "real", "workers": workers, "count": args.profile, "url": url,
                    "as_of": as_of.isoformat(), "plan": batches_for(args.profile, owing),
                    "stages": os.path.join(OUT, f"notices-stages-{os.getpid()}")}
            result = run_child(spec)
            print(f"  stage timers, {args.profile} real x{workers}: {result['seconds']:.1f} s, "
                  f"load {result['load'][0]:.2f}->{result['load'][1]:.2f}", flush=True)
            runs.append((f"x{workers} (load {result['load'][0]:.1f})", args.profile, result["seconds"],
                         result["stages"]))
        print_stages(runs)
    os.remove(html_file)
    if not args.keep:
        ledger.drop_database(url, sqlite_path)
        if sqlite_path and os.path.exists(snapshot_path(sqlite_path)):
            os.remove(snapshot_path(sqlite_path))
        shutil.rmtree(DATA_DIR, ignore_errors=True)
    return 0 if ok else 1


def report(args, sizes, results):
    count = args.count
    best = {key: min(runs, key=lambda r: r["seconds"]) for key, runs in results.items()}
    print()
    print(f"best of {args.runs} runs at {count} notices (load = 1-minute load average at the start of "
          f"that run; CPU = of the measuring process and its workers, ms a notice):")
    print("| configuration | notices/s | seconds | CPU/notice | print file | peak parent | peak worker | load |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for mode in ("real", "bare"):
        for workers in args.workers:
            r = best[(count, mode, workers)]
            merge = f"{r['merge_seconds']:.1f} s" if mode == "real" else "–"
            worker = f"{max(r['workers_mb']):.0f} MB" if r["workers_mb"] else "–"
            print(f"| {mode} x{workers} | {count / r['seconds']:.2f} | {r['seconds']:.1f} | "
                  f"{r['cpu_seconds'] / count * 1000:.0f} ms | {merge} | {r['parent_mb']:.0f} MB | {worker} | "
                  f"{r['load'][0]:.2f} |")
    verdicts = []
    rate = {key: key[0] / r["seconds"] for key, r in best.items()}
    for workers in args.workers:
        ratio = rate[(count, "real", workers)] / rate[(count, "bare", workers)]
        by_cpu = best[(count, "bare", workers)]["cpu_seconds"] / best[(count, "real", workers)]["cpu_seconds"]
        verdicts.append((f"real / bare, {workers} process(es)", f"{ratio:.2f}", f">= {GOAL_RATIO}",
                         ratio >= GOAL_RATIO, f"by CPU time {by_cpu:.2f}"))
    low, high = args.workers[0], args.workers[-1]
    if high > low:
        speedup = rate[(count, "real", high)] / rate[(count, "real", low)]
        bare_speedup = rate[(count, "bare", high)] / rate[(count, "bare", low)]
        verdicts.append((f"real path speed-up x{high} / x{low}", f"{speedup:.2f}x", f">= {GOAL_SPEEDUP}x",
                         speedup >= GOAL_SPEEDUP, f"bare WeasyPrint's in the same runs {bare_speedup:.2f}x"))
    for size in sizes:
        peak = max(peak_of(r) for (n, mode, _w), runs in results.items() if n == size and mode == "real" for r in runs)
        verdicts.append((f"peak memory, real path, {size} notices", f"{peak:.0f} MB", f"< {GOAL_MEMORY_MB} MB",
                         peak < GOAL_MEMORY_MB, "the largest process"))
    print()
    for name, value, goal, passed, note in verdicts:
        print(f"{name:40} {value:>9}  goal {goal:9}  {'PASS' if passed else 'FAIL'}  ({note})")


if __name__ == "__main__":
    sys.exit(main())
