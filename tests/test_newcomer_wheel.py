"""Issue 18 item 6: the wheel carries the recipes and the installed tool finds them through its package.

The wheel is built from a copy of the sources (no build/ or egg-info in the shared tree) and installed with
``--no-deps`` into a fresh venv whose dependencies come from the project's ``.venv`` through a ``.pth`` line
(a ``.pth`` in a path added that way is not processed, so ``.venv``'s editable hook stays off): fast and
offline. Commands run from a folder outside the repository.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("catalogs", "curation", "finance", "huijin", "recipes", "synthesis", "training")


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    for pkg in PACKAGES:
        shutil.copytree(ROOT / pkg, src / pkg, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    dist = tmp / "dist"
    dist.mkdir()
    subprocess.run([sys.executable, "-c", f"from setuptools import build_meta as b; b.build_wheel({str(dist)!r})"],
                   check=True, cwd=src, capture_output=True)  # the PEP 517 hook pip would call, without pip
    wheel = next(dist.glob("huijin-*.whl"))
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    Path(site, "huijin_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")  # .venv's packages
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps", "--no-compile",
                    str(wheel)],
                   check=True, capture_output=True)
    work = tmp / "elsewhere"
    work.mkdir()
    return {"wheel": wheel, "venv": venv, "work": work, "src": src}


def _run(installed, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": ""}
    env.setdefault("HUIJIN_SHARED_DATA", str(ROOT.parent / "shared" / "data"))
    return subprocess.run([str(installed["venv"] / "bin" / "huijin"), *args], cwd=installed["work"], env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_the_wheel_holds_every_recipe(installed):
    names = set(zipfile.ZipFile(installed["wheel"]).namelist())
    src = installed["src"] / "recipes"  # the copy the wheel was built from
    want = {f"recipes/{p.relative_to(src)}" for p in src.rglob("*") if p.suffix in (".yaml", ".json")}
    assert want and want <= names, sorted(want - names)


def test_the_installed_tool_finds_its_recipes_outside_the_repo(installed):
    py = installed["venv"] / "bin" / "python"
    out = subprocess.run([str(py), "-c", "import huijin, recipes; print(huijin.__file__); print(recipes.recipes_dir())"],
                         cwd=installed["work"], capture_output=True, text=True, check=True).stdout.split()
    assert all(str(installed["venv"]) in x for x in out), out  # the installed copy, not the repository
    r = _run(installed, "synth", "run", "programmatic_tables", "--limit", "5", "--store", "st", "--json")
    if r.returncode != 0 and "shared" in r.stderr and not (ROOT.parent / "shared" / "data").is_dir():
        pytest.skip("the shared data folder is absent")
    assert r.returncode == 0, r.stderr[-2000:]
    import json

    got = json.loads(r.stdout)
    assert {o["version"] for o in got["outputs"]} == {"fin-table-rl@1", "fin-table-sft@1"}
    assert (installed["work"] / "st" / "versions" / "fin-table-rl").is_dir()


@pytest.mark.slow
@pytest.mark.timeout(3600)  # the quick demo trains five stages: minutes, more on a loaded machine
def test_the_installed_demo_runs_outside_the_repo(installed):
    r = _run(installed, "demo", "--quick", timeout=3500)
    assert r.returncode == 0, (r.stdout[-3000:], r.stderr[-3000:])
    assert "lineage: raw input → checkpoint" in r.stdout
