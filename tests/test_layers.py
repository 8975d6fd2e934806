"""The package's layers, proved from the source (ast, nothing imported).

``mscreview`` is layered: ``data`` <- ``engine`` <- ``diagnostics`` <- ``review``; ``output`` sits beside
``review`` and uses only ``data`` (registries, display names) and ``engine`` (result types); the top level
(``paths``, ``build``, ``__main__``) orchestrates and may import anything. ``paths`` is usable by every
layer. This test fails on

(a) an import of a layer the importer may not use (upward, or review <-> output),
(b) an import cycle between modules (imports inside functions count: a cycle hidden in a function is
    still a cycle),
(c) a private name (leading underscore) taken from another module, by ``from m import _x`` or ``m._x``,
(d) a module over :data:`MAX_LINES` lines.
"""
from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "src" / "mscreview"
MAX_LINES = 700

#: layer -> the layers its modules may import (besides their own and ``paths``)
ALLOWED = {
    "data": set(),
    "engine": {"data"},
    "diagnostics": {"engine", "data"},
    "review": {"diagnostics", "engine", "data"},
    "output": {"engine", "data"},
}


def _modules() -> dict[str, Path]:
    out = {}
    for p in sorted(PKG.rglob("*.py")):
        parts = p.relative_to(PKG.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


MODULES = _modules()

#: Known debts, by check and module (none left: issue 10 paid them). A debt that is no longer needed
#: fails the test too, so this list can only shrink.
DEBT: dict[str, set[str]] = {"upward": set(), "cycle": set(), "private": set(), "size": set()}


def _check(kind: str, violations: dict[str, list[str]]):
    """Fail on violations outside the debts, and on debts that are paid (stale)."""
    new = [v for m, vs in sorted(violations.items()) if m not in DEBT[kind] for v in vs]
    stale = sorted(DEBT[kind] - {m for m, vs in violations.items() if vs})
    assert not new, f"{kind}:\n" + "\n".join(new)
    assert not stale, f"{kind}: debts paid, remove them from DEBT: {stale}"


def _layer(mod: str) -> str | None:
    """``mscreview.engine.rma`` -> ``engine``; top-level modules -> None."""
    parts = mod.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in ALLOWED) else None


def _resolve(mod: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    is_pkg = MODULES[mod].name == "__init__.py"
    base = mod.split(".")
    base = base if is_pkg else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(mod: str):
    """``(target module, names taken, line)`` for each import of a package module, and the
    private attributes used on imported package modules."""
    tree = ast.parse(MODULES[mod].read_text(encoding="utf-8"))
    found, aliases = [], {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("mscreview"):
                    found.append((a.name, [], node.lineno))
                    if a.asname:
                        aliases[a.asname] = a.name
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(mod, node)
            if not target.startswith("mscreview"):
                continue
            for a in node.names:
                sub = f"{target}.{a.name}"
                if sub in MODULES:       # from pkg import module
                    found.append((sub, [], node.lineno))
                    aliases[a.asname or a.name] = sub
                else:
                    found.append((target, [a.name], node.lineno))
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id in aliases and node.attr.startswith("_") and not node.attr.startswith("__")):
            found.append((aliases[node.value.id], [node.attr], node.lineno))
    return found


GRAPH = {m: _imports(m) for m in MODULES}


def test_every_module_is_in_a_layer_or_the_top_level():
    top = {m for m in MODULES if _layer(m) is None}
    assert top <= {"mscreview", "mscreview.paths", "mscreview.build", "mscreview.__main__"}, top


def test_no_upward_import():
    bad: dict[str, list[str]] = {}
    for mod, imps in GRAPH.items():
        layer = _layer(mod)
        if layer is None:
            continue
        for target, _, line in imps:
            tl = _layer(target)
            if target in ("mscreview", "mscreview.paths") or tl == layer:
                continue
            if tl is None or tl not in ALLOWED[layer]:
                bad.setdefault(mod, []).append(f"{MODULES[mod].relative_to(PKG)}:{line}: {layer} imports {target}")
    _check("upward", bad)


def test_no_import_cycle():
    edges = {m: {t for t, _, _ in imps if t in MODULES and t != m and t != "mscreview"}
             for m, imps in GRAPH.items()}
    # a package's __init__ is not an edge source of its submodules' imports (Python imports it first
    # anyway); cycles are looked for between modules
    state, stack, cycles = {}, [], []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for t in sorted(edges[m]):
            if state.get(t) == 1:
                cycles.append(stack[stack.index(t):] + [t])
            elif t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m)
    _check("cycle", {c[0]: [" -> ".join(c)] for c in cycles})


def test_no_private_name_crosses_a_module():
    bad = {mod: [f"{MODULES[mod].relative_to(PKG)}:{line}: {name} from {target}"
                 for target, names, line in imps for name in names
                 if name.startswith("_") and not name.startswith("__") and target != mod]
           for mod, imps in GRAPH.items()}
    _check("private", bad)


def test_module_size():
    sizes = {m: len(p.read_text(encoding="utf-8").splitlines()) for m, p in MODULES.items()}
    _check("size", {m: [f"{MODULES[m].relative_to(PKG)} has {n} lines (> {MAX_LINES}): split it"]
                    for m, n in sizes.items() if n > MAX_LINES})
