"""The shape of the code: no import cycle among volpanel's modules (an import inside a function counts too: it
only hides the cycle), and the demo cloud shares no code with the dashboard ("the demo cloud is another service":
it is reached over HTTP only, like a real cloud)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def modules(package_dir: Path) -> dict[str, Path]:
    """Every module of the package, by dotted name (a package by its own name, for its __init__)."""
    found = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = list(path.relative_to(package_dir.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _type_checking_only(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def imports(path: Path, name: str, known: set[str]) -> set[str]:
    """The package's own modules this module imports, wherever the import statement is."""
    tree = ast.parse(path.read_text(), filename=str(path))
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Import, ast.ImportFrom)) or _type_checking_only(node, parents):
            continue
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                anchor = name.split(".") if is_package else name.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            # `from package import module` imports that module; `from module import name` the module.
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_cycles(package_dir: Path) -> list[list[str]]:
    """Each import cycle among the package's modules once, as the modules along it."""
    mods = modules(package_dir)
    graph = {name: imports(path, name, set(mods)) for name, path in mods.items()}
    cycles: list[list[str]] = []
    seen_cycles: set[frozenset[str]] = set()
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt):] + [nxt]
                if frozenset(cycle) not in seen_cycles:
                    seen_cycles.add(frozenset(cycle))
                    cycles.append(cycle)
            elif nxt not in state:
                visit(nxt, path)
        path.pop()
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [])
    return cycles


def test_it_finds_no_import_cycle_among_volpanel_s_modules() -> None:
    cycles = import_cycles(ROOT / "volpanel")
    assert not cycles, "import cycles:\n" + "\n".join(" → ".join(c) for c in cycles)


def test_it_finds_an_import_cycle_however_it_is_written(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    for init in (pkg / "__init__.py", pkg / "sub" / "__init__.py"):
        init.write_text("")
    # a → b at the top, b → a inside a function (the services ↔ watchers shape), c → a under TYPE_CHECKING only.
    (pkg / "a.py").write_text("from pkg.sub import b\n")
    (pkg / "sub" / "b.py").write_text("def f():\n    from pkg import a\n    return a\n")
    (pkg / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import a\n"
                              "from . import a as _a\n")
    (pkg / "d.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import e\n")
    (pkg / "e.py").write_text("import pkg.d\n")
    assert import_cycles(pkg) == [["pkg.a", "pkg.sub.b", "pkg.a"]]


def test_the_demo_cloud_and_the_dashboard_share_no_code() -> None:
    mods = modules(ROOT / "volpanel")
    known = set(mods)
    for name, path in mods.items():
        inside = name.startswith("volpanel.democloud")
        for target in imports(path, name, known):
            if inside:
                assert target.startswith("volpanel.democloud"), f"{name} imports {target}"
            else:
                assert not target.startswith("volpanel.democloud"), f"{name} imports {target}"
