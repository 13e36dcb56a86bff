"""Build the Chinese catalog from the sources and the translation tables.

The messages are extracted from ``arrears/``, ``templates/`` and the print templates in
``notices/`` (English msgids, as written in ``_()``), translated from every ``zh_CN/*.json`` table (msgid -> Chinese;
one table per area, so that work on different screens never collides), and compiled to
``zh_Hans_CN/LC_MESSAGES/messages.mo`` (Babel reads "zh_CN" as zh_Hans_CN). The compiled
catalog is a build product (git-ignored): ``make run`` and ``make test`` build it, and
so does the test suite. ``untranslated()`` lists msgids no table translates; a test
requires it to be empty.

    .venv/bin/python -m arrears.translations.build      # build; list what is missing
"""
import glob
import json
import os
import sys

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MO = os.path.join(HERE, "zh_Hans_CN", "LC_MESSAGES", "messages.mo")
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None, "_l": None}
# The services' refusals: an exception raised with a literal English message (a msgid with
# ``%(name)s`` placeholders, see ``arrears/services/errors.py``) is shown translated by the
# web layer, so its message is extracted too; ``N_`` marks the literals a subclass passes on.
REFUSALS = ("ServiceError", "NotFound", "N_", "InvalidAct", "InvalidGuide", "VisitRefused", "UploadRefused",
            "AlreadyDecided", "AlreadyIssued", "NotAllowed", "DuplicateEstate", "DuplicateFeeItem",
            "SelfDeactivation", "NoPhoneOnRecord", "LoginLocked", "LoginFailed")
KEYWORDS.update({name: None for name in REFUSALS})
METHODS = [("arrears/**.py", "python"), ("templates/**.html", "jinja2"), ("notices/**.html", "jinja2")]


def table():
    merged = {}
    for path in sorted(glob.glob(os.path.join(HERE, "zh_CN", "*.json"))):
        with open(path, encoding="utf-8") as handle:
            merged.update(json.load(handle))
    return merged


def extracted():
    """``{msgid: [locations]}`` of every message in the sources."""
    found = {}
    options = {"templates/**.html": {"extensions": "jinja2.ext.do"}}
    for directory, methods in ((os.path.join(ROOT, "arrears"), [("**.py", "python")]),
                               (os.path.join(ROOT, "templates"), [("**.html", "jinja2")]),
                               (os.path.join(ROOT, "notices"), [("**.html", "jinja2")])):
        for filename, lineno, message, _comments, _context in extract_from_dir(
                directory, methods, keywords=KEYWORDS, options_map={"**.html": {}}):
            key = message if isinstance(message, str) else message[0]
            if key:
                found.setdefault(key, []).append((os.path.relpath(os.path.join(directory, filename), ROOT), lineno))
    return found


def untranslated():
    translations = table()
    return sorted(key for key in extracted() if not translations.get(key))


def build():
    translations = table()
    catalog = Catalog(locale="zh_Hans_CN", domain="messages")
    for key, locations in extracted().items():
        if translations.get(key):
            catalog.add(key, translations[key], locations=locations)
    os.makedirs(os.path.dirname(MO), exist_ok=True)
    temporary = MO + ".part"
    with open(temporary, "wb") as handle:
        write_mo(handle, catalog)
    os.replace(temporary, MO)
    return catalog


if __name__ == "__main__":
    build()
    missing = untranslated()
    for key in missing:
        print(f"untranslated: {key}", file=sys.stderr)
    sys.exit(1 if missing else 0)
