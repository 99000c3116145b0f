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
# What the web side and its infrastructure use; the engine runs in a notebook without any of it.
WEB_PACKAGES = {"django", "rest_framework", "drf_spectacular", "django_htmx", "celery", "kombu", "storages", "environ",
                "boto3", "botocore", "tests", "benchmarks"}


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
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
        and isinstance(test.value, ast.Name) and test.value.id == "typing")


def _dynamic_import(node: ast.AST) -> str | None:
    """The literal name given to importlib.import_module("...") or __import__("...")."""
    if not (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)):
        return None
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    return node.args[0].value if name in ("import_module", "__import__") else None


def _imports(nodes):
    """Every Import/ImportFrom node and literal dynamic import, skipping the bodies of `if TYPE_CHECKING:`."""
    for node in nodes:
        if isinstance(node, ast.If) and _is_type_checking(node):
            yield from _imports(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
            continue
        name = _dynamic_import(node)
        if name and not name.startswith("."):
            yield ast.Import(names=[ast.alias(name=name)])
        yield from _imports(ast.iter_child_nodes(node))


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
    for node in _imports([tree]):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
            continue
        source = _absolute(module, node, is_package)
        for alias in node.names:
            names.add(f"{source}.{alias.name}" if f"{source}.{alias.name}" in modules else source)
    names.discard(module)
    return names


def _with_parents(module: str, name: str) -> set[str]:
    """Importing a.b.c runs a/__init__ and a/b/__init__ first: those are dependencies too, unless they hold `module`."""
    parts = name.split(".")
    names = {".".join(parts[:i]) for i in range(1, len(parts) + 1)}
    return {n for n in names if not (module == n or module.startswith(n + "."))}


def import_graph(root: Path) -> dict[str, set[str]]:
    """module -> the project modules it imports (with the packages that hold them)."""
    modules = project_modules(root)
    graph = {}
    for module, path in modules.items():
        names = set()
        for name in imported_names(module, path, modules):
            names |= _with_parents(module, name)
        graph[module] = {name for name in names if name in modules}
    return graph


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
                if top in WEB_PACKAGES:
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


def test_it_follows_parent_packages_and_literal_dynamic_imports(tmp_path):
    root = _tree(tmp_path, {
        "projects/__init__.py": "",
        "projects/sub/__init__.py": "import importlib\nimportlib.import_module('projects.x')\n",
        "projects/sub/m.py": "",
        "projects/x.py": "from projects.sub.m import thing\n",
        "rime_web/__init__.py": "", "stresstests/__init__.py": "",
    })
    assert import_circles(import_graph(root)) == [["projects.sub", "projects.x"]]


def test_it_reads_imports_in_the_else_of_type_checking(tmp_path):
    root = _tree(tmp_path, {
        "projects/__init__.py": "",
        "projects/a.py": "import typing\nif typing.TYPE_CHECKING:\n    pass\nelse:\n    from projects import b\n",
        "projects/b.py": "from projects import a\n",
        "rime_web/__init__.py": "", "stresstests/__init__.py": "",
    })
    assert import_circles(import_graph(root)) == [["projects.a", "projects.b"]]


def test_it_ignores_type_checking_imports(tmp_path):
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
    ("import kombu\n", "imports kombu"),
    ("import importlib\nimportlib.import_module('projects.models')\n", "imports projects.models"),
])
def test_it_refuses_an_engine_that_reaches_out(tmp_path, source, expected):
    root = _tree(tmp_path, {
        "projects/__init__.py": "", "projects/models.py": "", "rime_web/__init__.py": "",
        "stresstests/__init__.py": "", "stresstests/services.py": "",
        "stresstests/engine/__init__.py": "", "stresstests/engine/runner.py": source,
    })
    problems = forbidden_imports(root)
    assert len(problems) == 1 and expected in problems[0]
