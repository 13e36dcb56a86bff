"""The domain core stays plain Python (STYLE.md, "Where things live"): no Flask or
SQLAlchemy imports, and no reading of the clock — today is always an ``as_of`` argument."""
import ast
from pathlib import Path

import pytest

DOMAIN = Path(__file__).resolve().parents[2] / "arrears" / "domain"
FORBIDDEN_PACKAGES = {"flask", "sqlalchemy", "flask_sqlalchemy", "flask_login", "flask_migrate",
                      "werkzeug"}
CLOCK_CALLS = {("date", "today"), ("datetime", "now"), ("datetime", "utcnow"),
               ("datetime", "today"), ("time", "time")}

MODULES = sorted(DOMAIN.glob("*.py"))


def test_the_domain_package_is_where_we_look():
    names = {path.name for path in MODULES}
    assert {"money.py", "policy.py", "ledger.py", "limitation.py", "evidence.py"} <= names


def imported_packages(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name.split(".")[0].lower(), node.lineno
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.split(".")[0].lower(), node.lineno
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id == "__import__" and node.args
              and isinstance(node.args[0], ast.Constant)):
            yield str(node.args[0].value).split(".")[0].lower(), node.lineno


def dotted_name(node):
    """``datetime.datetime.now`` -> ("datetime", "datetime", "now")."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return tuple(reversed(parts))


def clock_calls(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = dotted_name(node.func)
            if len(name) >= 2 and name[-2:] in CLOCK_CALLS:
                yield ".".join(name), node.lineno


@pytest.mark.parametrize("path", MODULES, ids=lambda path: path.name)
def test_no_web_or_database_imports(path):
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    bad = [(name, line) for name, line in imported_packages(tree) if name in FORBIDDEN_PACKAGES]
    assert bad == [], f"{path.name} imports {bad}"


@pytest.mark.parametrize("path", MODULES, ids=lambda path: path.name)
def test_no_clock_reads(path):
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    bad = list(clock_calls(tree))
    assert bad == [], f"{path.name} reads the clock: {bad}"


def test_the_checks_would_catch_a_violation():
    source = ("import flask\nfrom sqlalchemy.orm import Session\n"
              "from datetime import date, datetime\nimport datetime as dt\n"
              "x = date.today()\ny = datetime.now()\nz = dt.datetime.utcnow()\n")
    tree = ast.parse(source)
    assert [name for name, _ in imported_packages(tree) if name in FORBIDDEN_PACKAGES] == [
        "flask", "sqlalchemy"]
    assert [name for name, _ in clock_calls(tree)] == [
        "date.today", "datetime.now", "dt.datetime.utcnow"]
