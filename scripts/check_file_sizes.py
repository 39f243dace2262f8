#!/usr/bin/env python3
"""No production source file is over 400 lines, and no production function over 80.

Counts the lines of each `.rs` file under `shared/src` and `functions/` before its inline
`#[cfg(test)] mod …` (unit tests live next to the code they test and do not count); test-only
files (`tests.rs`, the `testing` fixtures) are left out. A function runs from its `fn` line to
its closing brace (braces in strings, chars and comments are skipped). Exits 1 naming the files
and functions over the limits. `--self-test` first proves the function count on known text.
"""
import pathlib
import re
import sys

LIMIT = 400
FN_LIMIT = 80
ROOT = pathlib.Path(__file__).resolve().parent.parent
FN = re.compile(r"^\s*(pub(\([^)]*\))?\s+)?(const\s+)?(async\s+)?(unsafe\s+)?fn\s+(\w+)")


def code_only(lines):
    """Each line without its strings, chars and comments (block comments and strings may span lines)."""
    out, block, string = [], False, False
    for line in lines:
        kept, i = [], 0
        while i < len(line):
            c = line[i]
            if block:
                if line.startswith("*/", i):
                    block, i = False, i + 2
                else:
                    i += 1
            elif string:
                if c == "\\":
                    i += 2
                    continue
                string = c != '"'
                i += 1
            elif line.startswith("//", i):
                break
            elif line.startswith("/*", i):
                block, i = True, i + 2
            elif c == '"':
                string, i = True, i + 1
            elif c == "'" and re.match(r"'(\\.|[^\\'])'", line[i:]):
                i += len(re.match(r"'(\\.|[^\\'])'", line[i:]).group(0))
            else:
                kept.append(c)
                i += 1
        out.append("".join(kept))
    return out


def long_functions(text, limit):
    """(name, first line, length) of each function of `text` longer than `limit` lines."""
    lines = text.split("\n")
    code = code_only(lines)
    found = []
    for start, line in enumerate(lines):
        m = FN.match(line)
        if not m:
            continue
        depth, opened = 0, False
        for end in range(start, len(lines)):
            for ch in code[end]:
                if ch == "{":
                    depth, opened = depth + 1, True
                elif ch == "}":
                    depth -= 1
                elif ch == ";" and not opened:
                    break
            else:
                if opened and depth == 0:
                    break
                continue
            break
        if opened and end - start + 1 > limit:
            found.append((m.group(6), start + 1, end - start + 1))
    return found


if "--self-test" in sys.argv:
    body = "\n".join(["    let s = \"{\"; let c = '{'; // {", "    /* { */"] * 2)
    sample = f"fn short() {{\n{body}\n}}\nfn declared();\npub async fn long() {{\n" + "    x();\n" * 5 + "}\n"
    # short() has 6 lines whose braces in strings, chars and comments must not count.
    assert long_functions(sample, 6) == [("long", 8, 7)], long_functions(sample, 6)
    assert long_functions(sample, 7) == []
over = []
long_fns = []
for base in ("shared/src", "functions"):
    for f in sorted((ROOT / base).rglob("*.rs")):
        if f.name == "tests.rs" or f.name == "testing.rs":
            continue
        text = f.read_text()
        cut = re.search(r"^#\[cfg\(test\)\]\s*\nmod \w+ \{", text, re.M)
        production = text[: cut.start()] if cut else text
        lines = production.count("\n")
        if lines > LIMIT:
            over.append((lines, f.relative_to(ROOT)))
        if base == "shared/src":
            long_fns.extend((n, f.relative_to(ROOT), line, name) for name, line, n in long_functions(production, FN_LIMIT))
for lines, f in sorted(over, reverse=True):
    print(f"file sizes: {f} has {lines} production lines (limit {LIMIT})", file=sys.stderr)
for n, f, line, name in sorted(long_fns, reverse=True):
    print(f"function sizes: {f}:{line} {name} has {n} lines (limit {FN_LIMIT})", file=sys.stderr)
if over or long_fns:
    sys.exit(1)
print(f"file sizes: every production file is within {LIMIT} lines, every function in shared/src within {FN_LIMIT}")
