"""The imports of files/support/: they point one way (no circle among its modules), and no
module there imports a script of files/ but helpers.py, which is a leaf: it imports no
module of the project."""

import ast
import sys

from harness import FILES

SUPPORT = FILES / "support"


def imported_names(path):
    """The modules `path` imports, anywhere in it (a deferred import inside a function too),
    by their dotted names; `from support import x` gives support and support.x, a relative
    import a name that starts with its dots."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            names.add(module)
            if module == "support":
                names |= {f"support.{alias.name}" for alias in node.names}
    return names


def support_imports(path):
    """The modules of files/ and files/support/ that `path` imports: support modules by
    their name in support/ (support.x)."""
    local = {path.stem for path in FILES.glob("*.py")}
    return {name for name in imported_names(path)
            if name.startswith("support.") or name in local}


def test_support_imports_no_script_and_no_module_imports_itself_back():
    graph = {path.stem: support_imports(path) for path in SUPPORT.glob("*.py")}
    scripts = {module: {name for name in imported if not name.startswith("support.")}
               for module, imported in graph.items()}
    assert {module: names for module, names in scripts.items() if names - {"helpers"}} == {}
    edges = {module: {name.removeprefix("support.") for name in imported
                      if name.startswith("support.")} for module, imported in graph.items()}

    def reaches(start, goal, seen=()):
        return any(name == goal or (name not in seen and reaches(name, goal, (*seen, name)))
                   for name in edges.get(start, ()))

    circles = sorted(module for module in edges if reaches(module, module))
    assert circles == []


def test_helpers_imports_no_module_of_the_project():
    # A leaf: a notebook can import it without support/ (or its start-up checks).
    tops = {name.split(".")[0] for name in imported_names(FILES / "helpers.py")}
    assert tops <= {*sys.stdlib_module_names, "matplotlib", "numpy"}, tops
