"""Fill ``messages.po`` from ``zh_CN.json`` (msgid -> Chinese) and compile it.

Usage: ``.venv/bin/python arrears/translations/fill.py`` after ``pybabel extract`` /
``update`` (see docs/translations.md). Entries missing from the JSON are listed and left
empty, and the test suite fails until they are translated.
"""
import json
import os
import sys

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

HERE = os.path.dirname(os.path.abspath(__file__))
PO = os.path.join(HERE, "zh_Hans_CN", "LC_MESSAGES", "messages.po")
MO = os.path.join(HERE, "zh_Hans_CN", "LC_MESSAGES", "messages.mo")
TABLE = os.path.join(HERE, "zh_CN.json")


def main():
    with open(TABLE, encoding="utf-8") as handle:
        table = json.load(handle)
    with open(PO, "rb") as handle:
        catalog = read_po(handle, locale="zh_Hans_CN")
    missing = []
    for message in catalog:
        if not message.id:
            continue
        key = message.id if isinstance(message.id, str) else message.id[0]
        if key in table:
            message.string = table[key]
            message.flags.discard("fuzzy")
        else:
            missing.append(key)
    with open(PO, "wb") as handle:
        write_po(handle, catalog, width=0)
    with open(MO, "wb") as handle:
        write_mo(handle, catalog)
    for key in missing:
        print(f"untranslated: {key}", file=sys.stderr)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
