"""The pure core stays pure: protocol/, target/ and initiator/ import no I/O and no edge package.

Parses every module with ast (nothing is imported), so a bad import fails here before it runs.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
PURE_PACKAGES = ("pyaoe.protocol", "pyaoe.target", "pyaoe.initiator")
#: Standard modules that do I/O, read the clock, make randomness or threads.
FORBIDDEN_STDLIB = (
    "socket",
    "select",
    "selectors",
    "asyncio",
    "threading",
    "time",
    "os",
    "random",
    "mmap",
    "subprocess",
    "ctypes",
)
#: pyaoe's edge packages.
FORBIDDEN_PYAOE = ("pyaoe.net", "pyaoe.storage", "pyaoe.service", "pyaoe.fuse", "pyaoe.cli", "pyaoe.lab")
FORBIDDEN = FORBIDDEN_STDLIB + FORBIDDEN_PYAOE


def is_forbidden(module: str) -> bool:
    """True for a forbidden module or anything inside it (os.path yes, timeit no)."""
    return any(module == bad or module.startswith(bad + ".") for bad in FORBIDDEN)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _resolve(node: ast.ImportFrom, module_name: str, is_package: bool) -> str:
    """The absolute module an ImportFrom names, relative imports resolved against ``module_name``."""
    if node.level == 0:
        return node.module or ""
    parts = module_name.split(".")
    if not is_package:
        parts = parts[:-1]
    base = parts[: len(parts) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


class _ImportFinder(ast.NodeVisitor):
    def __init__(self, module_name: str, is_package: bool) -> None:
        self.module_name = module_name
        self.is_package = is_package
        self.found: list[tuple[int, str]] = []

    def visit_If(self, node: ast.If) -> None:
        # Imports for annotations only never run: skip the body, still check the else branch.
        if _is_type_checking(node.test):
            for child in node.orelse:
                self.visit(child)
        else:
            self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.found.append((node.lineno, alias.name))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = _resolve(node, self.module_name, self.is_package)
        self.found.append((node.lineno, module))
        # "from pyaoe import net" imports the package pyaoe.net.
        for alias in node.names:
            self.found.append((node.lineno, f"{module}.{alias.name}"))

    def visit_Call(self, node: ast.Call) -> None:
        # __import__("socket") and importlib.import_module("socket") count too.
        func = node.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
        if name in ("__import__", "import_module") and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                self.found.append((node.lineno, first.value))
        self.generic_visit(node)


def bad_imports(source: str, module_name: str, is_package: bool = False) -> list[str]:
    """Forbidden imports in ``source`` as 'line N: module' strings."""
    finder = _ImportFinder(module_name, is_package)
    finder.visit(ast.parse(source))
    return [f"line {line}: {module}" for line, module in finder.found if is_forbidden(module)]


def pure_modules() -> list[tuple[str, Path]]:
    """(module name, path) of every module in the pure packages that exist."""
    modules = []
    for package in PURE_PACKAGES:
        directory = SRC.joinpath(*package.split("."))
        for path in sorted(directory.rglob("*.py")):
            relative = path.relative_to(SRC).with_suffix("")
            modules.append((".".join(relative.parts), path))
    return modules


def test_the_pure_packages_are_found() -> None:
    names = {name for name, _ in pure_modules()}
    # protocol/ always exists; target/ and initiator/ are checked whenever they do.
    assert {"pyaoe.protocol.__init__", "pyaoe.protocol.frame", "pyaoe.protocol.header"} <= names


@pytest.mark.parametrize(("name", "path"), pure_modules(), ids=[name for name, _ in pure_modules()])
def test_pure_module_imports_nothing_impure(name: str, path: Path) -> None:
    is_package = path.name == "__init__.py"
    module_name = name.removesuffix(".__init__")
    found = bad_imports(path.read_text(), module_name, is_package)
    assert not found, f"{path.relative_to(SRC)} imports I/O or an edge package: {found}"


# --- the checker itself catches what it must (so the test above can fail) -------------------


@pytest.mark.parametrize(
    "source",
    [
        "import os",
        "import os.path",
        "import socket as s",
        "from time import monotonic",
        "import json, random",
        "def f():\n    import selectors",
        "class C:\n    def m(self):\n        from asyncio import sleep",
        "try:\n    import mmap\nexcept ImportError:\n    pass",
        "from pyaoe.net import raw",
        "from pyaoe import lab",
        "import pyaoe.cli.main",
        "from ..storage import file",
        "from .. import service",
        "import threading\n",
        "import ctypes.util",
        "from subprocess import run",
        "x = __import__('socket')",
        "import importlib\nm = importlib.import_module('os')",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    pass\nelse:\n    import socket",
        "if DEBUG:\n    import time",
    ],
)
def test_checker_finds_bad_imports(source: str) -> None:
    assert bad_imports(source, "pyaoe.target.engine")


@pytest.mark.parametrize(
    "source",
    [
        "import logging",
        "import timeit",
        "import osmium",
        "from dataclasses import dataclass",
        "from pyaoe.protocol import Frame",
        "from pyaoe.errors import FrameError",
        "from pyaoe.network_names import x",
        "from . import export",
        "from .backend import Backend",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import socket\n    from pyaoe.net import L",
        "import typing\nif typing.TYPE_CHECKING:\n    from os import PathLike",
    ],
)
def test_checker_allows_pure_imports(source: str) -> None:
    assert bad_imports(source, "pyaoe.target.engine") == []


def test_relative_imports_resolve_from_a_package_init() -> None:
    # In pyaoe/target/__init__.py, "from . import x" means pyaoe.target.x, ".." means pyaoe.
    assert bad_imports("from ..net import raw", "pyaoe.target", is_package=True)
    assert bad_imports("from . import engine", "pyaoe.target", is_package=True) == []
