#!/usr/bin/env python3
"""No production source file is over 400 lines.

Counts the lines of each `.rs` file under `shared/src` and `functions/` before its inline
`#[cfg(test)] mod …` (unit tests live next to the code they test and do not count); test-only
files (`tests.rs`, the `testing` fixtures) are left out. Exits 1 naming the files over the limit.
"""
import pathlib
import re
import sys

LIMIT = 400
ROOT = pathlib.Path(__file__).resolve().parent.parent
over = []
for base in ("shared/src", "functions"):
    for f in sorted((ROOT / base).rglob("*.rs")):
        if f.name == "tests.rs" or f.name == "testing.rs":
            continue
        text = f.read_text()
        cut = re.search(r"^#\[cfg\(test\)\]\s*\nmod \w+ \{", text, re.M)
        lines = text[: cut.start()].count("\n") if cut else text.count("\n")
        if lines > LIMIT:
            over.append((lines, f.relative_to(ROOT)))
for lines, f in sorted(over, reverse=True):
    print(f"file sizes: {f} has {lines} production lines (limit {LIMIT})", file=sys.stderr)
if over:
    sys.exit(1)
print(f"file sizes: every production file is within {LIMIT} lines")
