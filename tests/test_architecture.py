"""The package's layering: no module reaches a private name of another folder.

A private (underscore) name belongs to the folder of the package that defines it
(``neo_mef3/``, ``neo_mef3/format/``, ``neo_mef3/reader/``, ...). Another folder uses
public names only, so that each folder can change its insides without breaking the
others. The test walks every module's source (ast): ``from ..x import _y`` and attribute
access ``obj._y`` are refused when ``_y`` is defined only in other folders. Dunder names
are fine, and so are the compiled modules ``_red`` and ``_scan`` (public modules of the
package whose public functions may be used).
"""
import ast
import os

import pytest

PACKAGE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "neo_mef3")
PUBLIC_PRIVATE_MODULES = {"_red", "_scan"}


def _modules(package):
    for root, dirs, files in os.walk(package):
        dirs[:] = [d for d in dirs if not d.startswith((".", "__pycache__")) and d != "data"]
        for f in sorted(files):
            if f.endswith(".py"):
                path = os.path.join(root, f)
                with open(path, encoding="utf-8") as fh:
                    yield path, os.path.relpath(root, package), ast.parse(fh.read(), path)


def _private(name):
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _defined(tree):
    """Private names a module defines: globals, functions, classes, methods, attributes
    set on ``self``/``cls``/objects, ``__slots__`` entries and keyword parameters."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            out.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            out.add(node.attr)
        elif isinstance(node, ast.alias):
            out.add(node.asname or node.name.split(".")[0])
        elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__slots__" for t in node.targets):
            out.update(c.value for c in ast.walk(node.value) if isinstance(c, ast.Constant) and isinstance(c.value, str))
    return {n for n in out if _private(n)}


def _target(package, folder, level, module):
    """(dotted name, folder holding it) of what ``from <level dots><module> import``
    names, seen from a module of `folder` (folders relative to the package)."""
    parts = [] if folder == "." else folder.split(os.sep)
    if level > 1:
        parts = parts[: len(parts) - (level - 1)]
    full = parts + (module.split(".") if module else [])
    holder = full if not full or os.path.isdir(os.path.join(package, *full)) else full[:-1]
    return ".".join(full), (os.path.join(*holder) if holder else ".")


def _violations(package=PACKAGE):
    modules = list(_modules(package))
    defined_in = {}  # private name -> folders defining it
    for _, folder, tree in modules:
        for name in _defined(tree):
            defined_in.setdefault(name, set()).add(folder)
    found = []
    for path, folder, tree in modules:
        rel = os.path.relpath(path, os.path.dirname(package))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level:
                name, target_folder = _target(package, folder, node.level, node.module)
                last = name.rsplit(".", 1)[-1]
                if _private(last) and last not in PUBLIC_PRIVATE_MODULES and target_folder != folder:
                    found.append(f"{rel}:{node.lineno}: imports from the private module {name}")
                for alias in node.names:
                    if _private(alias.name) and alias.name not in PUBLIC_PRIVATE_MODULES and target_folder != folder:
                        found.append(f"{rel}:{node.lineno}: from {name or '.'} import {alias.name}")
            elif isinstance(node, ast.Attribute) and _private(node.attr):
                owners = defined_in.get(node.attr, set())
                if owners and folder not in owners:
                    found.append(f"{rel}:{node.lineno}: .{node.attr} (defined in {', '.join(sorted(owners))})")
    return found


def test_no_module_reaches_a_private_name_of_another_folder():
    assert _violations() == []


@pytest.mark.parametrize("snippet,expected", [
    ("from ..reader.facade import _x\n", True),
    ("from .facade import _x\n", False),
    ("from .. import _red\n", False),
    ("def f(r):\n    return r._somewhere_else()\n", True),
    ("def f(r):\n    return r._mine()\n", False),
    ("def f(r):\n    return r.__class__\n", False),
])
def test_the_guard_sees_private_reach(tmp_path, snippet, expected):
    """The guard on a small fake package: folder ``a`` defines ``_x`` and
    ``_somewhere_else``; a module of folder ``b`` holds the snippet."""
    pkg = tmp_path / "neo_mef3"
    (pkg / "a").mkdir(parents=True)
    (pkg / "b").mkdir()
    (pkg / "a" / "facade.py").write_text("_x = 1\n\nclass A:\n    def _somewhere_else(self):\n        pass\n")
    (pkg / "b" / "facade.py").write_text("_x = 2\n\nclass B:\n    def _mine(self):\n        pass\n")
    (pkg / "b" / "user.py").write_text(snippet.replace("..reader.", "..a."))
    found = [v for v in _violations(str(pkg)) if "user.py" in v]
    assert bool(found) == expected, found


def test_the_public_api_is_typed():
    """Every public method of the public classes (and of the package's classes they
    inherit from) annotates its parameters and result (``neo_mef3/py.typed`` tells type
    checkers to use them)."""
    import inspect

    import neo_mef3

    assert os.path.isfile(os.path.join(PACKAGE, "py.typed"))
    missing = []
    public = (neo_mef3.Reader, neo_mef3.Writer, neo_mef3.MEF3RawIO, neo_mef3.MEF3IO, neo_mef3.MefReader,
              neo_mef3.MefWriter)
    classes = {k for cls in public for k in cls.__mro__ if k.__module__.split(".")[0] == "neo_mef3"}
    for cls in sorted(classes, key=lambda k: k.__qualname__):
        for name, member in vars(cls).items():
            if name.startswith("_") and name != "__init__":
                continue
            funcs = [member.fget, member.fset] if isinstance(member, property) else [member]
            for func in funcs:
                if not inspect.isfunction(func):
                    continue
                sig = inspect.signature(func)
                if sig.return_annotation is inspect.Signature.empty:
                    missing.append(f"{cls.__name__}.{name} -> ?")
                for p in list(sig.parameters.values())[1:]:
                    if p.annotation is inspect.Parameter.empty:
                        missing.append(f"{cls.__name__}.{name}({p.name})")
    assert missing == [], missing
