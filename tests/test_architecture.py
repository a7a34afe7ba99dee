"""The package's shape: no import cycles (module-level or inside functions), and the layers point down."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "src" / "fashionlab"


def module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in PKG.rglob("*.py")}


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """Modules of the package that ``name`` imports anywhere in its file (functions included)."""
    is_pkg = path.name == "__init__.py"
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("fashionlab"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_pkg else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("fashionlab"):
                continue
            for a in node.names:  # `from .pkg import submodule` imports the submodule
                sub = f"{target}.{a.name}"
                out.add(sub if sub in known else target)
    return {m for m in out if m in known and m != name}


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {n: imports_of(n, p, set(mods)) for n, p in mods.items()}


def find_cycle(g: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(g[n]):
            if state.get(m) == 1:
                return stack[stack.index(m) :] + [m]
            if m not in state and (c := visit(m)):
                return c
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(g):
        if n not in state and (c := visit(n)):
            return c
    return None


def test_no_import_cycles():
    g = graph()
    assert len(g) > 40
    cycle = find_cycle(g)
    assert cycle is None, " -> ".join(cycle)


def test_the_cycle_finder_finds_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


#: lower layers never import higher ones (a module may import its own layer and any below)
LAYERS = [
    {"errors", "version", "registry", "config", "fileio", "parallel"},
    {"data"},  # the dataset format, loader and importers
    {"synth"},  # SynthFashion renders and writes datasets in that format
    {"viz", "losses", "engine"},
    {"models"},
    {"metrics", "search"},
    {"usecases"},  # predict / edit / search / pose over files and uploads, below both the CLI and the service
    {"cli", "serve", "__main__"},
]


def layer_of(module: str) -> int | None:
    parts = module.split(".")
    if len(parts) == 1:  # the package root: the public facade, above everything but the CLI
        return len(LAYERS) - 1
    for i, names in enumerate(LAYERS):
        if parts[1] in names:
            return i
    return None


def test_dependencies_point_down():
    g = graph()
    unplaced = sorted({m.split(".")[1] for m in g if "." in m and layer_of(m) is None})
    assert not unplaced, f"place these in LAYERS: {unplaced}"
    upward = [(a, b) for a, deps in g.items() for b in deps if layer_of(b) > layer_of(a) and b != "fashionlab"]
    assert not upward, upward
    assert not [a for a, deps in g.items() if "fashionlab" in deps], "nothing imports the package root"
