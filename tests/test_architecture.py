"""The layout's rules, read from the code's own imports (docs/architecture.md):

- no circle of imports among the project's modules (an import inside a function counts: it is a dependency too);
- the engine (`stresstests/engine/`) imports neither Django nor anything of the project outside the engine;
- the vocabulary module imports nothing of the project;
- `projects` never imports `stresstests` other than its engine.

Imports under `if TYPE_CHECKING:` are left out: they are annotations, not dependencies at run time.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("rime_web", "projects", "stresstests")
ENGINE = "stresstests.engine"
VOCABULARY = "stresstests.engine.vocabulary"


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules(root: Path) -> dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for path in (root / package).rglob("*.py"):
            if "migrations" not in path.parts:
                modules[module_name(path, root)] = path
    return modules


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST):
    """Every Import/ImportFrom node, skipping the bodies of `if TYPE_CHECKING:`."""
    stack = [tree]
    while stack:
        node = stack.pop()
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                stack.extend(child.orelse)
                continue
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                yield child
            stack.append(child)


def _absolute(module: str, node: ast.ImportFrom, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imported_names(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """What this module imports: `a.b` for `import a.b`; for `from a.b import c`, `a.b.c` when that is one of the
    project's modules, else `a.b`."""
    tree = ast.parse(path.read_text(), filename=str(path))
    is_package = path.name == "__init__.py"
    names = set()
    for node in _imports(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
            continue
        source = _absolute(module, node, is_package)
        for alias in node.names:
            names.add(f"{source}.{alias.name}" if f"{source}.{alias.name}" in modules else source)
    names.discard(module)
    return names


def import_graph(root: Path) -> dict[str, set[str]]:
    """module -> the project modules it imports."""
    modules = project_modules(root)
    return {module: {name for name in imported_names(module, path, modules) if name in modules}
            for module, path in modules.items()}


def import_circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    circles: list[list[str]] = []
    counter = [0]

    def visit(start: str) -> None:
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = counter[0]
        counter[0] += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter[0]
                    counter[0] += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        circles.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return circles


def forbidden_imports(root: Path) -> list[str]:
    modules = project_modules(root)
    problems = []
    for module, path in sorted(modules.items()):
        names = imported_names(module, path, modules)
        if module == ENGINE or module.startswith(ENGINE + "."):
            for name in sorted(names):
                top = name.split(".")[0]
                if top == "django" or top == "rest_framework" or top == "celery":
                    problems.append(f"{module} imports {name}: the engine is a library without Django or Celery")
                elif top in PACKAGES and not (name == ENGINE or name.startswith(ENGINE + ".")):
                    problems.append(f"{module} imports {name}: the engine imports only itself")
        if module == VOCABULARY:
            problems += [f"{module} imports {n}: the vocabulary is a leaf" for n in sorted(names)
                         if n.split(".")[0] in PACKAGES]
        if module.startswith("projects"):
            problems += [f"{module} imports {n}: projects may use the engine, never the rest of stresstests"
                         for n in sorted(names)
                         if n.startswith("stresstests") and not (n == ENGINE or n.startswith(ENGINE + "."))
                         and n != "stresstests"]
    return problems


def test_no_module_imports_itself_through_a_circle():
    circles = import_circles(import_graph(ROOT))
    assert circles == [], "Circles of imports:\n" + "\n".join(" <-> ".join(c) for c in circles)


def test_the_engine_and_the_vocabulary_keep_to_themselves():
    assert forbidden_imports(ROOT) == []


# ---- the checker itself, on small trees built here ------------------------------------------------------------------
def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_it_finds_a_circle_through_an_import_inside_a_function(tmp_path):
    root = _tree(tmp_path, {
        "projects/__init__.py": "",
        "projects/a.py": "from projects import b\n",
        "projects/b.py": "def f():\n    from . import c\n",
        "projects/c.py": "from .a import thing\n",
        "rime_web/__init__.py": "", "stresstests/__init__.py": "",
    })
    assert import_circles(import_graph(root)) == [["projects.a", "projects.b", "projects.c"]]


def test_it_ignores_type_checking_imports_and_package_parents(tmp_path):
    root = _tree(tmp_path, {
        "projects/__init__.py": "",
        "projects/a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from projects.b import B\n",
        "projects/b.py": "from projects import a\n",
        "rime_web/__init__.py": "", "stresstests/__init__.py": "",
    })
    assert import_circles(import_graph(root)) == []


@pytest.mark.parametrize("source, expected", [
    ("import django.conf\n", "imports django.conf"),
    ("def f():\n    from projects.models import Project\n", "imports projects.models"),
    ("from stresstests import services\n", "imports stresstests.services"),
])
def test_it_refuses_an_engine_that_reaches_out(tmp_path, source, expected):
    root = _tree(tmp_path, {
        "projects/__init__.py": "", "projects/models.py": "", "rime_web/__init__.py": "",
        "stresstests/__init__.py": "", "stresstests/services.py": "",
        "stresstests/engine/__init__.py": "", "stresstests/engine/runner.py": source,
    })
    problems = forbidden_imports(root)
    assert len(problems) == 1 and expected in problems[0]
