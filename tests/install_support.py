"""What the tests need from the machine, and the one command that installs it all (``scripts/test``,
README's test command). A test whose library, server or browser is missing fails saying what to
run; none is skipped silently."""
from __future__ import annotations

import importlib
from types import ModuleType
from typing import NoReturn

import pytest

INSTALL = "scripts/test"


def how_to_install(apt: str | None = None) -> str:
    """The command that installs what is missing: the script, or the package manager call it makes."""
    alone = f"sudo apt-get install {apt}" if apt else "pip install -e '.[test]'"
    return f"run `{INSTALL}` (it installs what the tests need, then runs them), or `{alone}`"


def missing(what: str, apt: str | None = None) -> NoReturn:
    """Fail the test (or the module, at collection) because ``what`` is not on this machine."""
    pytest.fail(f"{what}: {how_to_install(apt)}", pytrace=False)


def need(module: str, why: str) -> ModuleType:
    """``module`` imported, or a failure naming the command that installs it (the test extra)."""
    try:
        return importlib.import_module(module)
    except ImportError:
        missing(f"{why} need the Python package {module.split('.')[0]}, which is not installed")
