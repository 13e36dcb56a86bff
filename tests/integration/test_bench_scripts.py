"""The benchmarks in bench/ still run against the code as it is.

They are not timed here (their goals are judged at full size, by hand): each runs at a
toy size in a fresh process on a throw-away SQLite file, and must finish its work and
print its figures without a traceback. A benchmark whose goal is missed at this size
exits 1; that is allowed. (bench/ledger.py once built its histories by hand and broke
silently when the ledger's UnitHistory gained a field; this is what catches that.)

The scripts are run once, on the SQLite pass of ``make test``: each builds its own
database, and given a PostgreSQL URL it would wipe it.
"""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

pytestmark = pytest.mark.skipif(bool(os.environ.get("TEST_DATABASE_URL")),
                                reason="the bench scripts build their own SQLite files; run on the SQLite pass")


def run_bench(script, *args, timeout=600):
    result = subprocess.run([sys.executable, os.path.join(ROOT, "bench", script), *args], cwd=ROOT,
                            capture_output=True, text=True, timeout=timeout)
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output[-4000:]
    assert result.returncode in (0, 1), output[-4000:]
    return result.stdout


def test_ledger_bench_builds_its_portfolio_and_checks_the_report_against_the_engine(tmp_path):
    out = run_bench("ledger.py", "--units", "120", "--months", "6", "--db", str(tmp_path / "ledger.sqlite3"),
                    "--runs", "1")
    assert "generated in" in out
    assert "check: 0 mismatches" in out, out
    assert "vs the engine over all units: equal" in out, out


def test_pages_bench_builds_a_portfolio_and_times_every_page(tmp_path):
    out = run_bench("pages.py", "--units", "120", "--months", "6", "--db", str(tmp_path / "pages.sqlite3"),
                    "--runs", "1", "--workers", "1")
    for page in ("dashboard", "household list", "household page"):
        assert page in out.lower(), out


def test_bundle_bench_times_verify_chain_against_bare_hashing(tmp_path):
    out = run_bench("bundle.py", "--skip-demo", "--skip-synthetic", "--events", "3000")
    assert "verify-chain" in out and "sha256" in out.lower(), out
