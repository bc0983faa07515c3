"""The shape of the code: no import circles, rooms kept to their role, no complexity exemptions."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("api", "analyzers", "monitoring")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _module_level_imports(tree: ast.Module) -> list[str]:
    """Imports at module level, including those under `if` (TYPE_CHECKING) and `try`."""
    found: list[str] = []
    pending: list[ast.stmt] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.extend(f"{node.module}.{alias.name}" for alias in node.names)
            found.append(node.module)
        elif isinstance(node, (ast.If, ast.Try)):
            pending.extend(node.body)
            pending.extend(node.orelse)
            pending.extend(getattr(node, "finalbody", []))
            for handler in getattr(node, "handlers", []):
                pending.extend(handler.body)
    return found


def _all_imports(tree: ast.AST) -> list[str]:
    """Every absolute import in the tree, function-level ones included."""
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = {
        _module_name(p): p for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py") if p.is_file()
    }
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = set()
        for imported in _module_level_imports(ast.parse(path.read_text())):
            if imported in modules and imported != name:
                targets.add(imported)
        graph[name] = targets
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle, as the list of modules around it, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_checker_finds_a_circle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_circles_among_our_packages() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])


def test_no_complexity_exemptions() -> None:
    pyproject = (REPO / "pyproject.toml").read_text()
    assert "max-complexity = 12" in pyproject
    assert "per-file-ignores" not in pyproject
    offenders = [
        str(p.relative_to(REPO))
        for top in (*PACKAGES, "scripts", "bench", "tests")
        for p in (REPO / top).rglob("*.py")
        if re.search("noqa:[^\\n]*" + "C9" + "01", p.read_text())
    ]
    assert offenders == []


#: the analyzer contract and what every role shares; roles live in subpackages
MAX_ANALYZERS_ROOT_MODULES = 12


def test_the_analyzers_root_holds_the_contract_only() -> None:
    root = sorted(p.name for p in (REPO / "analyzers").glob("*.py") if p.name != "__init__.py")
    assert len(root) <= MAX_ANALYZERS_ROOT_MODULES, root


def _imports_testing(name: str) -> bool:
    return name == "analyzers.testing" or name.startswith("analyzers.testing.")


def test_no_product_module_imports_the_testing_builders() -> None:
    # The CLI's make-test-model may, inside the command (lazily); nothing else may at all.
    offenders = []
    for top in (*PACKAGES, "scripts"):
        for path in (REPO / top).rglob("*.py"):
            name = _module_name(path)
            if _imports_testing(name):
                continue
            tree = ast.parse(path.read_text())
            eager = [i for i in _module_level_imports(tree) if _imports_testing(i)]
            lazy = [i for i in _all_imports(tree) if _imports_testing(i)]
            if eager or (lazy and not name.startswith("api.cli")):
                offenders.append(f"{name}: {eager or lazy}")
    assert offenders == []


def test_asking_for_blip2_does_not_import_the_testing_package() -> None:
    probe = (
        "import sys; from analyzers.registry import analyzer_class; analyzer_class('blip2'); "
        "print(sorted(m for m in sys.modules if m.startswith('analyzers.testing')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_benchmarks_import_nothing_from_tests() -> None:
    offenders = [
        f"{path.relative_to(REPO)}: {name}"
        for path in (REPO / "bench").rglob("*.py")
        for name in _all_imports(ast.parse(path.read_text()))
        if name == "tests" or name.startswith("tests.")
    ]
    assert offenders == []


#: the house limits: a longer module or a larger class is probably two things
MAX_MODULE_LINES = 450
MAX_METHODS = 30


def _product_modules() -> list[Path]:
    return [p for top in (*PACKAGES, "scripts") for p in (REPO / top).rglob("*.py")]


def large_classes(source: str, limit: int = MAX_METHODS) -> list[str]:
    """``Class (n methods)`` for each class in ``source`` with more than ``limit`` methods."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ClassDef):
            kinds = (ast.FunctionDef, ast.AsyncFunctionDef)
            methods = sum(1 for item in node.body if isinstance(item, kinds))
            if methods > limit:
                found.append(f"{node.name} ({methods} methods)")
    return found


def test_the_checker_counts_methods() -> None:
    source = "class Big:\n" + "".join(f"    def m{i}(self): ...\n" for i in range(3))
    assert large_classes(source, limit=2) == ["Big (3 methods)"]
    assert large_classes(source, limit=3) == []


def test_no_class_has_more_than_30_methods() -> None:
    offenders = [
        f"{p.relative_to(REPO)}: {found}"
        for p in _product_modules()
        for found in large_classes(p.read_text())
    ]
    assert offenders == []


def test_no_product_module_is_over_450_lines() -> None:
    offenders = [
        f"{p.relative_to(REPO)} ({n} lines)"
        for p in _product_modules()
        if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES
    ]
    assert offenders == []
