"""Shared fixtures: a fresh store per test and the third-party data folder (``../shared/data``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("HUIJIN_SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture
def in_child():
    """``in_child(module, func, *args)``: ``module.func(*args)`` run in a fresh Python (the repository and tests/ on
    its path), its JSON-able result returned; for checks that must not meet the torch.distributed state other tests
    leave in this process (another library's Trainer would wrap its model in DDP)."""
    import json

    def call(module: str, func: str, *args):
        code = (f"import json, sys; sys.path[:0] = {[str(ROOT), str(ROOT / 'tests')]!r}; import {module} as m; "
                f"print('OUT=' + json.dumps(m.{func}(*{list(args)!r})))")
        p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=540,  # < pytest's
                           env={**os.environ, "HF_HUB_OFFLINE": "1"})
        assert p.returncode == 0, p.stderr[-3000:]
        return json.loads(next(x for x in p.stdout.splitlines() if x.startswith("OUT="))[4:])

    return call


@pytest.fixture
def store(tmp_path):
    from catalogs import Store

    return Store.open(tmp_path / "store")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared third-party data; tests that need it skip with a reason when it is absent."""
    if not SHARED.is_dir():
        pytest.skip(f"shared data folder {SHARED} is absent (set HUIJIN_SHARED_DATA to its path)")
    return SHARED


@pytest.fixture
def arith_tasks(store) -> str:
    """An ``rl`` version of six "What is a plus a+1?" tasks (numeric specs) and one judge task (unscorable offline),
    for the rejection-sampling tests."""
    return write_arith_tasks(store)


def write_arith_tasks(store, n: int = 6) -> str:
    """``n`` "What is a plus a+1?" tasks and one judge task in an ``rl`` version ``arith`` (bench/synth.py too)."""
    from synthesis.generators.records import provenance, rl_record

    recs = [rl_record([{"role": "user", "content": f"What is {a} plus {a + 1}? Put the answer in \\boxed{{}}."}],
                      {"spec_version": 1, "type": "numeric", "answer": 2 * a + 1}, "general_retention/reasoning/math",
                      "en", provenance("test", "t")) for a in range(1, n + 1)]
    recs.append(rl_record([{"role": "user", "content": "Judge me"}], {"spec_version": 1, "type": "judge"}, None,
                          "en", provenance("test", "t")))
    with store.writer("arith", kind="rl") as w:
        w.write(recs)
    return w.manifest.ref


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One `huijin demo --quick` per session (shared by the notebook, web viewer and quiet-output tests):
    the store it built and everything it printed (stdout then stderr)."""
    root = tmp_path_factory.mktemp("nbdemo")
    store, work = root / "huijin-store", root / "demo-work"
    cmd = [sys.executable, "-m", "huijin.cli", "demo", "--quick", "--store", str(store), "--workdir", str(work)]
    env = {k: v for k, v in os.environ.items() if k != "HUIJIN_VERBOSE"}  # the default (quiet) output
    done = subprocess.run(cmd, cwd=root, env={**env, "HF_HUB_OFFLINE": "1"}, capture_output=True,
                          text=True, timeout=480)
    assert done.returncode == 0, f"huijin demo --quick failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return store, done.stdout + done.stderr


@pytest.fixture(scope="session")
def demo_store(demo_run: tuple[Path, str]) -> Path:
    return demo_run[0]
