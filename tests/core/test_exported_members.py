"""Every public name is exported on purpose: in its module's ``__all__``, or private.

A module is public when no part of its dotted path starts with an underscore. In a
public module, every name the module itself binds at top level (classes, functions,
constants, type aliases, type variables; not imports) either starts with an
underscore or is listed in ``__all__``; the package namespace exports every
non-module name it holds. A module that binds no public name needs no ``__all__``.
"""

import ast
import importlib
import importlib.util
import inspect
import pkgutil
from pathlib import Path
from types import ModuleType

import pytest

import worldmodel_sdk


def _public_modules() -> list[str]:
    names = ["worldmodel_sdk"]
    for info in pkgutil.walk_packages(worldmodel_sdk.__path__, "worldmodel_sdk."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            names.append(info.name)
    return sorted(names)


def _bound_at_top_level(module: ModuleType) -> set[str]:
    """Names a module's own top-level statements bind (imports and TYPE_CHECKING excluded)."""
    return _bound_in(inspect.getsource(module))


def _bound_in(source: str) -> set[str]:
    names: set[str] = set()

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
            elif isinstance(node, ast.If) and ast.unparse(node.test) != "TYPE_CHECKING":
                visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)
                visit(node.orelse)
                visit(node.finalbody)
                for handler in node.handlers:
                    visit(handler.body)

    visit(ast.parse(source).body)
    return names


def _check_unimportable_bridge(name: str) -> None:
    """A framework bridge whose framework is absent: check its source, without importing it."""
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.origin is not None
    source = Path(spec.origin).read_text("utf-8")
    exported = next(
        ast.literal_eval(node.value)
        for node in ast.parse(source).body
        if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "__all__"
    )
    bound = _bound_in(source)
    assert [n for n in exported if n not in bound] == [], f"{name}.__all__ names unbound names"
    unexported = sorted(n for n in bound if not n.startswith("_") and n not in exported)
    assert unexported == [], f"{name}: public names not in __all__ (export them or rename)"


def test_the_walk_finds_the_public_modules():
    modules = _public_modules()
    assert {"worldmodel_sdk.payloads.state", "worldmodel_sdk.conformance.checks.loss"} <= set(
        modules
    )
    assert not [m for m in modules if "._" in m]


def test_package_namespace_exports_every_public_name():
    held = {
        name
        for name, value in vars(worldmodel_sdk).items()
        if not name.startswith("_") and not isinstance(value, ModuleType)
    }
    assert sorted(held - set(worldmodel_sdk.__all__)) == []


@pytest.mark.parametrize("name", _public_modules())
def test_public_names_are_in_all(name):
    try:
        module = importlib.import_module(name)
    except ImportError as exc:  # a bridge to an optional framework that is not installed
        assert "pip install 'worldmodel-sdk[" in str(exc), exc
        _check_unimportable_bridge(name)
        return
    exported = getattr(module, "__all__", [])
    missing = [n for n in exported if not hasattr(module, n)]
    assert missing == [], f"{name}.__all__ names what the module does not hold"
    unexported = sorted(
        n for n in _bound_at_top_level(module) if not n.startswith("_") and n not in exported
    )
    assert unexported == [], f"{name}: public names not in __all__ (export them or rename)"
