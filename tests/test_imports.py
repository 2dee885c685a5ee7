"""The package's import graph: no cycles anywhere in ``lipreading`` (module-level and deferred imports alike)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "lipreading"


def _module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_only(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    """True for an import inside ``if TYPE_CHECKING:`` (for annotations only: never executed)."""
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def _imports(path: Path, name: str, modules: set[str]) -> set[str]:
    """The modules of ``modules`` that the file ``path`` (module ``name``) imports, wherever the import is."""
    tree = ast.parse(path.read_text(), str(path))
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Import, ast.ImportFrom)) or _type_checking_only(node, parents):
            continue
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:  # relative: from ..x import y
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            # `from a.b import c` imports the module a.b.c if there is one, else a.b (c is a name in it)
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        found |= {t for t in targets if t in modules and t != name}
    return found


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module -> the package's modules it imports, for every ``.py`` file under the package ``root``."""
    files = {_module_name(p, root): p for p in root.rglob("*.py")}
    return {name: _imports(path, name, set(files)) for name, path in files.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` as a path a -> b -> ... -> a, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_the_package_has_no_import_cycle():
    graph = import_graph(PACKAGE)
    assert "lipreading.run.build" in graph["lipreading.run.train"]  # the walk sees the imports
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_rule_catches_a_deferred_or_relative_cycle(tmp_path):
    """One import inside a function closes a cycle as surely as a module-level one; imports for
    annotations only (``if TYPE_CHECKING:``) run never and close none."""
    root = tmp_path / "pkg"
    (root / "sub").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "sub" / "__init__.py").write_text("")
    (root / "a.py").write_text("from pkg.sub import b\n")
    (root / "sub" / "b.py").write_text("def f():\n    from ..a import f  # deferred, relative\n")
    (root / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import d\n")
    (root / "d.py").write_text("import pkg.c\n")
    graph = import_graph(root)
    assert find_cycle(graph) == ["pkg.a", "pkg.sub.b", "pkg.a"]
    (root / "sub" / "b.py").write_text("def f():\n    return 1\n")
    assert find_cycle(import_graph(root)) is None


def test_the_layers_below_the_workflow_never_reach_it():
    """data/, preprocessing/, models/, tasks/ and reports/ sit below run/: nothing they import, however
    indirectly, is a workflow module (so importing the distillation task loads no training code)."""
    graph = import_graph(PACKAGE)

    def reached(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for nxt in graph[todo.pop()] - seen:
                seen.add(nxt)
                todo.append(nxt)
        return seen

    below = [m for m in graph if m.split(".")[1:2] in (["data"], ["preprocessing"], ["models"], ["tasks"], ["reports"])]
    assert "lipreading.tasks.distillation" in below
    for module in below:
        workflow = sorted(m for m in reached(module) if m.startswith("lipreading.run"))
        assert not workflow, f"{module} reaches {workflow}"
