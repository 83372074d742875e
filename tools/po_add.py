"""Add Korean translations to web/translations/ko/LC_MESSAGES/messages.po.

Usage: python tools/po_add.py PAIRS.tsv   (one ``English<TAB>Korean`` per line)

A msgid already in the catalogue is left as it is (the line is reported); the new ones
are appended. Then: ``.venv/bin/pybabel compile --use-fuzzy -d web/translations``.
"""

from __future__ import annotations

import sys
from pathlib import Path

PO = Path(__file__).resolve().parent.parent / "web/translations/ko/LC_MESSAGES/messages.po"


def quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def main(path: str) -> int:
    po = PO.read_text(encoding="utf-8")
    added = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        if line.count("\t") != 1:
            print(f"{path}:{number}: expected English<TAB>Korean", file=sys.stderr)
            return 1
        en, ko = line.split("\t")
        if f"\nmsgid {quote(en)}\n" in po or any(en == a for a, _ in added):
            print(f"{path}:{number}: already there: {en}")
            continue
        added.append((en, ko))
    with PO.open("a", encoding="utf-8") as out:
        for en, ko in added:
            out.write(f"\nmsgid {quote(en)}\nmsgstr {quote(ko)}\n")
    print(f"{len(added)} added")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
