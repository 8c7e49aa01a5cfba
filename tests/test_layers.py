"""The house's layers: a lower layer never imports a higher one, and nothing imports in a cycle.

Every import in the package is read, those inside functions included (a lazy import is for
start-up weight, never to dodge a cycle), and checked against the layer table below, which
docs/architecture.md draws.
"""

from __future__ import annotations

import ast
from pathlib import Path

from expertise.config import PACKAGE_DIR

#: Lowest first. A unit is a top-level module or a subpackage; a unit may import its own
#: modules and the units of lower layers only.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("config", "errors"),
    ("io", "privacy", "markdown"),
    ("scoring", "tickets"),
    ("knowledge_base", "store", "bundles"),
    ("engine",),
    ("rights", "modeling"),
    ("session", "batch", "lifecycle"),
    ("render",),
    ("cli",),
    ("__init__", "__main__"),
)
RANK = {unit: rank for rank, units in enumerate(LAYERS) for unit in units}


def _module(path: Path) -> str:
    rel = path.relative_to(PACKAGE_DIR).with_suffix("")
    parts = [p for p in rel.parts if p != "__init__"] or ["__init__"]
    return ".".join(["expertise", *parts]) if parts != ["__init__"] else "expertise"


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports() -> dict[str, set[str]]:
    """module -> the package modules it imports (anywhere in its code)."""
    modules = {_module(p): p for p in PACKAGE_DIR.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found: set[str] = set()
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1]
                                    + ([base] if base else []))
                # a name imported from a package is a module of it, or a name it defines
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                           for a in node.names]
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target.startswith("expertise") and target != name:
                    found.add(target)
        graph[name] = found
    return graph


def test_every_unit_has_a_layer() -> None:
    units = {_unit(m) for m in _imports()}
    assert units <= set(RANK), f"give these a layer in LAYERS: {sorted(units - set(RANK))}"


def test_no_layer_imports_a_higher_one() -> None:
    bad = []
    for module, targets in _imports().items():
        for target in targets:
            a, b = _unit(module), _unit(target)
            if a != b and RANK[b] >= RANK[a] and not (a == "__init__" or b == "config"):
                bad.append(f"{module} -> {target}")
            # the package root is the public API: nothing below it imports it
            if target == "expertise" and a != "__init__":
                bad.append(f"{module} -> {target}")
    assert not bad, "imports against the layers:\n" + "\n".join(sorted(bad))


def test_no_import_cycles() -> None:
    graph = _imports()
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(stack[stack.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_the_layer_table_is_the_one_the_architecture_page_draws() -> None:
    page = (PACKAGE_DIR.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    for units in LAYERS:
        for unit in units:
            if unit not in ("__init__", "__main__"):
                assert unit in page, f"docs/architecture.md does not mention {unit}"


def test_the_makefile_retrains_on_exactly_the_code_that_changes_a_model() -> None:
    import subprocess

    from expertise.config import PROJECT_DIR
    from expertise.lifecycle.train import model_code_files

    out = subprocess.run(["make", "-s", "--no-print-directory", "print-model-code"],
                         cwd=PROJECT_DIR, capture_output=True, text=True, check=True).stdout
    listed = sorted(PROJECT_DIR / line for line in out.split())
    assert listed == sorted(model_code_files())


def test_editing_the_cli_or_its_help_does_not_make_a_model_stale() -> None:
    from expertise.lifecycle.train import model_code_files

    files = {p.relative_to(PACKAGE_DIR).as_posix() for p in model_code_files()}
    assert not files & {"cli.py", "render.py", "session.py", "engine.py", "batch/run.py"}
    assert {"scoring/model.py", "modeling/fit.py", "config.py"} <= files
