"""The package reads as the pipeline: stages import only earlier stages, no cycles, small rooms.

Stage order (docs/architecture.md): base (units, errors, checks, textfile, store) → catalog →
demand → cluster → money → pipeline → validation → report → interfaces (web, cli). An import
from a later stage into an earlier one, or any import cycle (lazy imports inside functions
included), fails here; so does a module over 600 lines or a function over 120.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "gpuplan"
STAGES = {
    "units": 0, "errors": 0, "checks": 0, "textfile": 0, "store": 0,
    "catalog": 1, "demand": 2, "cluster": 3, "money": 4, "pipeline": 5, "validation": 6,
    "report": 7, "web": 8, "cli": 8,
}
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 120


def _modules() -> dict[str, Path]:
    out = {}
    for p in sorted(SRC.rglob("*.py")):
        parts = p.relative_to(SRC.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = p
    return out


def _imports(path: Path, name: str, is_pkg: bool) -> set[str]:
    """Every gpuplan module ``name`` imports, at top level or inside functions."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("gpuplan")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base[: len(base) - node.level + (1 if is_pkg else 0)]
                mod = ".".join([*base, node.module] if node.module else base)
            else:
                mod = node.module or ""
            if mod.startswith("gpuplan"):
                found.add(mod)
                found |= {f"{mod}.{a.name}" for a in node.names}
    return found


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    g = {}
    for name, path in mods.items():
        raw = _imports(path, name, path.name == "__init__.py")
        g[name] = {m for m in raw if m in mods and m != name}
    return g


def _stage(module: str) -> int | None:
    parts = module.split(".")
    return STAGES.get(parts[1]) if len(parts) > 1 else None


def test_every_module_belongs_to_a_stage():
    unknown = [m for m in _modules() if m != "gpuplan" and _stage(m) is None]
    assert not unknown, f"modules outside the stage map (add them to STAGES and docs): {unknown}"


def test_no_import_from_a_later_stage():
    bad = [f"{a} (stage {_stage(a)}) imports {b} (stage {_stage(b)})"
           for a, deps in _graph().items() if a != "gpuplan"
           for b in deps if b != "gpuplan" and (_stage(b) or 0) > (_stage(a) or 0)]
    assert not bad, "\n".join(bad)


def test_no_import_cycle():
    g = {a: {b for b in deps if b != "gpuplan"} for a, deps in _graph().items() if a != "gpuplan"}
    # a package's __init__ re-exporting its own submodules is not a cycle of the design
    for a in g:
        g[a] = {b for b in g[a] if not b.startswith(a + ".")}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(n: str, stack: list[str]) -> None:
        state[n] = 1
        for m in sorted(g.get(n, ())):
            if state.get(m) == 1:
                cycles.append([*stack[stack.index(m):], m] if m in stack else [n, m])
            elif m not in state:
                visit(m, [*stack, m])
        state[n] = 2

    for n in sorted(g):
        if n not in state:
            visit(n, [n])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


@pytest.mark.parametrize("path", sorted(SRC.rglob("*.py")), ids=lambda p: str(p.relative_to(SRC)))
def test_rooms_are_small(path: Path):
    text = path.read_text()
    assert text.count("\n") <= MAX_MODULE_LINES, f"{path.name}: {text.count(chr(10))} lines"
    long = [f"{f.name}: {f.end_lineno - f.lineno + 1} lines"
            for f in ast.walk(ast.parse(text))
            if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
            and (f.end_lineno or f.lineno) - f.lineno + 1 > MAX_FUNCTION_LINES]
    assert not long, f"{path.name}: {long}"


def test_the_checker_sees_a_backward_import(tmp_path):
    """The import scan is real: a made-up demand module importing money is caught."""
    p = tmp_path / "x.py"
    p.write_text("def f():\n    from gpuplan.money import tco\n")
    assert "gpuplan.money" in _imports(p, "gpuplan.demand.x", False)
    assert _stage("gpuplan.money") > _stage("gpuplan.demand.x")


def test_no_function_shares_its_module_name():
    """Importing ``gpuplan.x.train`` must never hide a function ``train`` (no module tricks)."""
    clash = []
    for name, path in _modules().items():
        stem = name.rsplit(".", 1)[-1]
        tree = ast.parse(path.read_text())
        clash += [f"{name}.{f.name}" for f in tree.body
                  if isinstance(f, (ast.FunctionDef, ast.ClassDef)) and f.name == stem]
    assert not clash, clash
