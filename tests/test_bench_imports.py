"""The benchmark scripts import what exists: no test runs most of them (they take minutes), and bench/synth.py once
rotted unnoticed when a test helper it imported became a fixture. Every ``from M import N`` of huijin's own
packages, of a test module or of another bench script must resolve."""

from __future__ import annotations

import ast
import importlib
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OURS = {"huijin", "catalogs", "curation", "synthesis", "training", "finance"}
SCRIPTS = sorted((ROOT / "bench").glob("*.py"))


def _ours(module: str) -> bool:
    top = module.split(".")[0]
    return top in OURS or (ROOT / "tests" / f"{top}.py").exists() or (ROOT / "bench" / f"{top}.py").exists()


@pytest.mark.parametrize("script", SCRIPTS, ids=[p.name for p in SCRIPTS])
def test_bench_script_imports_resolve(script: Path, monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    monkeypatch.syspath_prepend(str(ROOT / "tests"))
    missing = []
    for node in ast.walk(ast.parse(script.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level and _ours(node.module):
            mod = importlib.import_module(node.module)
            for alias in node.names:
                submodule = hasattr(mod, "__path__") and importlib.util.find_spec(f"{node.module}.{alias.name}")
                if not hasattr(mod, alias.name) and not submodule:
                    missing.append(f"line {node.lineno}: from {node.module} import {alias.name}")
        elif isinstance(node, ast.Import):
            missing += [f"line {node.lineno}: import {a.name}" for a in node.names
                        if _ours(a.name) and importlib.util.find_spec(a.name) is None]
    assert not missing, f"{script.name}: " + "; ".join(missing)
