"""The studio is a client of the public API: it imports ``store``'s public names and the modules
that declare themselves studio-facing in their docstrings, and reads no ``_private`` attribute of
anything but itself (an AST walk over ``app/``)."""
from __future__ import annotations

import ast
import importlib
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FACING = "Studio-facing:"


def sources() -> dict[str, ast.Module]:
    found = {}
    for folder, _, names in os.walk(os.path.join(ROOT, "app")):
        for name in names:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                with open(path, encoding="utf-8") as fh:
                    found[os.path.relpath(path, ROOT)] = ast.parse(fh.read(), path)
    return found


def studio_facing(module: str) -> bool:
    return FACING in (importlib.import_module(module).__doc__ or "")


def test_the_studio_imports_only_public_names_and_studio_facing_modules():
    import store

    wrong = []
    for path, tree in sources().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "store":
                if node.module == "store":
                    wrong += [f"{path}: store.{a.name}" for a in node.names
                              if a.name not in store.__all__ and not studio_facing(f"store.{a.name}")]
                elif node.module == "store.retrieval":  # `from store.retrieval import browse`
                    wrong += [f"{path}: store.retrieval.{a.name}" for a in node.names
                              if not studio_facing(f"store.retrieval.{a.name}")]
                elif not studio_facing(node.module):
                    wrong.append(f"{path}: {node.module}")
            elif isinstance(node, ast.Import):
                wrong += [f"{path}: {a.name}" for a in node.names if a.name.startswith("store")]
    assert wrong == []


def test_the_studio_reads_no_private_attribute_of_the_store():
    reads = [f"{path}:{node.lineno}: {ast.unparse(node)}" for path, tree in sources().items() for node in ast.walk(tree)
             if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
             and ast.unparse(node.value) not in ("self", "cls")]
    assert reads == []
