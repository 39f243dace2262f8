#!/usr/bin/env python3
"""The module import graph of the library crate has no cycle.

An equivalent of `cargo modules dependencies --acyclic` that needs no extra tool: it reads every
`crate::…` and `super::…` path as written in `shared/src` (production code: test modules,
comments and a file's `#[cfg(test)]` tail are left out) and builds the graph between components,
a component being a top-level module, or a second-level one inside a folder module
(`services::process`, `nhanh::v3`, `store::dynamo`, …). A path ends at the module it names: an
item re-exported by a folder's `mod.rs` counts as that folder's. Files inside one component may
use one another (a folder's `mod.rs` and its children); between components the graph must be
acyclic. `-v` prints the edges; exits 1 on a cycle.
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent / "shared" / "src"
PATH = re.compile(r"\b(crate|super)((?:::[a-z_][a-z0-9_]*)+)")
USE_GROUP = re.compile(r"\buse\s+(crate|super)((?:::[a-z_][a-z0-9_]*)*)::\{([^;]*)\};", re.S)


def module_of(path: pathlib.Path) -> list[str]:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] in ("mod", "lib"):
        parts = parts[:-1]
    return parts


def is_folder(parts: list[str]) -> bool:
    return (ROOT.joinpath(*parts) / "mod.rs").exists()


def component(parts: list[str]) -> str:
    if not parts:
        return "crate"
    if len(parts) >= 2 and is_folder(parts[:1]) and (
        is_folder(parts[:2]) or (ROOT.joinpath(*parts[:2]).with_suffix(".rs")).exists()
    ):
        return "::".join(parts[:2])
    return parts[0]


def production(text: str) -> str:
    """The file without its inline test module and without comments (doc links are not imports)."""
    cut = re.search(r"^#\[cfg\(test\)\]\s*\nmod \w+ \{", text, re.M)
    text = text[: cut.start()] if cut else text
    return re.sub(r"//[^\n]*", "", text)


def targets(module: list[str], text: str) -> set[str]:
    found = set()
    paths = [(m.group(1), m.group(2)) for m in PATH.finditer(text)]
    for m in USE_GROUP.finditer(text):
        for item in re.split(r"[,\s{}]+", m.group(3)):
            if re.fullmatch(r"[a-z_][a-z0-9_]*", item or ""):
                paths.append((m.group(1), f"{m.group(2)}::{item}"))
    for root, rest in paths:
        segs = [s for s in rest.split("::") if s]
        if root == "crate":
            base = []
        else:
            base = module[:-1] if not is_folder(module) else module[:-1]
            while segs and segs[0] == "super":
                base, segs = base[:-1], segs[1:]
        full = base + segs
        # Keep the module part of the path (drop items: the longest prefix that is a module).
        while full and not (ROOT.joinpath(*full).with_suffix(".rs").exists() or is_folder(full)):
            full = full[:-1]
        found.add(component(full))
    return found


def main() -> int:
    edges: dict[str, set[str]] = {}
    for f in sorted(ROOT.rglob("*.rs")):
        if f.name == "tests.rs" or f == ROOT / "testing.rs":
            continue  # test-only modules (`#[cfg(test)]`, the `testing` feature)
        module = module_of(f)
        me = component(module)
        for t in targets(module, production(f.read_text())):
            if t != me and t != "crate":
                edges.setdefault(me, set()).add(t)
    # Depth-first search for a cycle.
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(edges.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state:
                found = visit(m)
                if found:
                    return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(edges):
        if n not in state:
            cycle = visit(n)
            if cycle:
                print("modules: import cycle: " + " -> ".join(cycle), file=sys.stderr)
                return 1
    if "-v" in sys.argv:
        for n in sorted(edges):
            print(f"{n} -> {', '.join(sorted(edges[n]))}")
    print(f"modules: {len(edges)} components, no import cycle")
    return 0


if __name__ == "__main__":
    sys.exit(main())
