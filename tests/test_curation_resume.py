"""Issue 14 items 3-4: a `huijin curate run` killed with SIGKILL resumes by completed task into the version an
uninterrupted run commits (same hash, no duplicate rows); a changed input does not resume into the old work;
dropped documents are kept per step:reason and shown by `huijin catalog drops`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from catalogs import Store

KILLER = '''
import os, signal
from pathlib import Path
from datatrove.pipeline.base import PipelineStep


class KillOnce(PipelineStep):
    """Logs every document it sees; SIGKILLs its own process at document `at` of task `rank`, once."""

    name = "kill once"

    def __init__(self, marker: str, log: str, rank: int = 0, at: int = 0, armed: bool = True):
        super().__init__()
        self.marker, self.log, self.rank, self.at, self.armed = marker, log, rank, at, armed

    def run(self, data, rank=0, world_size=1):
        for i, doc in enumerate(data):
            with open(self.log, "a") as f:
                f.write(f"{rank} {doc.id}\\n")
            if self.armed and rank == self.rank and i == self.at and not Path(self.marker).exists():
                Path(self.marker).touch()
                os.kill(os.getpid(), signal.SIGKILL)
            yield doc
'''


def _recipe(tmp: Path, where: str) -> Path:
    """min_length → [killer] → dedup → [killer]; the killer before dedup runs in the first stage, the one after
    it in the last. Only the one at ``where`` is armed."""
    def killer(pos: str) -> dict:
        return {"step": "killsteps:KillOnce", "label": f"kill_{pos}",
                "params": {"marker": str(tmp / f"marker_{pos}"), "log": str(tmp / f"log_{pos}.txt"), "rank": 1,
                           "at": 2, "armed": where == pos}}
    steps = [{"min_length": {"min_chars": 200}}, killer("process"),
             {"dedup": {"threshold": 0.8, "num_perm": 16}}, killer("final")]
    path = tmp / "recipe.yaml"
    path.write_text(json.dumps({"name": "resumed", "steps": steps}))
    return path


def _cli(args: list[str], tmp: Path) -> subprocess.CompletedProcess:
    """The CLI in its own process group; output through files (a killed run's helper processes, e.g.
    datatrove's multiprocess manager, would hold pipes open), and the group is killed afterwards."""
    env = {**os.environ, "HUIJIN_STEP_PACKAGES": "killsteps", "PYTHONPATH": f"{tmp}{os.pathsep}{Path.cwd()}"}
    out, err = tmp / "cli.out", tmp / "cli.err"
    with open(out, "w") as fo, open(err, "w") as fe:
        p = subprocess.Popen([sys.executable, "-c", "from huijin.cli import main; main()", *args], env=env,
                             stdout=fo, stderr=fe, start_new_session=True)
        try:
            rc = p.wait(timeout=300)
        finally:
            try:
                os.killpg(p.pid, signal.SIGKILL)  # leftovers of a killed run
            except ProcessLookupError:
                pass
    return subprocess.CompletedProcess(p.args, rc, out.read_text(), err.read_text())


@pytest.fixture
def setup(tmp_path, shared_data):
    (tmp_path / "killsteps").mkdir()
    (tmp_path / "killsteps" / "__init__.py").write_text(KILLER)
    rows = [json.loads(x) for x in (shared_data / "general_text" / "wiki_paragraphs.jsonl").open()]
    texts = [r["text"] for r in rows if r["source"] == "xquad.en" and len(r["text"].split()) >= 120][:24]
    texts += [texts[0], texts[3] + " A copy with a tail.", "too short", texts[5][: int(len(texts[5]) * 0.9)]]
    inp = tmp_path / "in"  # three files: one per task (files are sharded over tasks)
    inp.mkdir()
    for k in range(3):
        (inp / f"part{k}.jsonl").write_text("".join(json.dumps({"text": t, "id": f"d{i:02d}"}) + "\n"
                                                    for i, t in enumerate(texts) if i % 3 == k))
    return tmp_path, inp


@pytest.mark.parametrize("where", ["process", pytest.param("final", marks=pytest.mark.slow)])
def test_sigkill_then_rerun_gives_the_uninterrupted_version(setup, where, monkeypatch):
    tmp, inp = setup
    recipe = _recipe(tmp, where)
    args = ["curate", "run", str(recipe), "-i", str(inp), "--tasks", "3", "--json"]
    killed = _cli([*args, "--store", str(tmp / "s1")], tmp)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert (tmp / f"marker_{where}").exists()
    assert any(p.name.startswith("_work-resumed-") for p in (tmp / "s1" / "staging").iterdir())
    log = tmp / f"log_{where}.txt"
    seen_before = log.read_text().splitlines()
    assert any(x.startswith("0 ") for x in seen_before)  # task 0 completed before task 1 was killed
    log.unlink()

    resumed = _cli([*args, "--store", str(tmp / "s1")], tmp)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resuming the killed run" in resumed.stderr
    redone = log.read_text().splitlines()
    assert redone and not any(x.startswith("0 ") for x in redone)  # the completed task was skipped
    assert not any(p.name.startswith("_work-") for p in (tmp / "s1" / "staging").iterdir())

    # the same recipe uninterrupted (the marker exists: nothing is killed), in this process to save a start-up
    from curation.pipeline import run_recipe

    monkeypatch.setenv("HUIJIN_STEP_PACKAGES", "killsteps")
    monkeypatch.syspath_prepend(str(tmp))
    b = run_recipe(str(recipe), [str(inp)], store=Store.open(tmp / "s2"), tasks=3)
    a = Store.open(tmp / "s1").resolve("resumed@1")
    assert a.hash == b.hash and a.rows == b.rows and a.drops == b.drops and a.inputs == b.inputs == 28
    ids = [r["meta"] for r in Store.open(tmp / "s1").read_table(a).to_pylist()]
    assert len(ids) == len(set(ids)) == a.rows  # no row written twice
    assert a.drops == {"min_length:too_short": 1, "dedup:exact_duplicate": 1, "dedup:near_duplicate": 2}

    # the dropped documents are kept with the version and shown by `huijin catalog drops`
    from typer.testing import CliRunner

    from huijin.cli import app

    shown = CliRunner().invoke(app, ["catalog", "drops", "resumed@1", "--json", "--store", str(tmp / "s1")])
    assert shown.exit_code == 0, shown.output
    rows = json.loads(shown.stdout)
    assert sorted(x["key"] for x in rows) == ["dedup:exact_duplicate", "dedup:near_duplicate",
                                              "dedup:near_duplicate", "min_length:too_short"]
    assert [x["text"] for x in rows if x["key"] == "min_length:too_short"] == ["too short"]
    assert all(x["file"].startswith(str(inp)) and isinstance(x["offset"], int) for x in rows)
    near = CliRunner().invoke(app, ["catalog", "drops", "resumed@1", "--reason", "near_duplicate",
                                    "--store", str(tmp / "s1")])
    assert near.exit_code == 0 and "dedup:near_duplicate" in near.stdout and "too_short" not in near.stdout


@pytest.mark.slow
def test_changed_input_does_not_resume_into_the_old_work(setup):
    tmp, inp = setup
    recipe = _recipe(tmp, "process")
    args = ["curate", "run", str(recipe), "-i", str(inp), "--tasks", "3", "--store", str(tmp / "s")]
    assert _cli([*args, "--json"], tmp).returncode == -signal.SIGKILL
    with (inp / "part2.jsonl").open("a") as f:  # the input changes after the kill
        f.write(json.dumps({"text": "another short one", "id": "new"}) + "\n")
    r = _cli([*args, "--json"], tmp)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "resuming" not in r.stderr and "not resumed, its inputs differ" in r.stderr
    m = Store.open(tmp / "s").resolve("resumed@1")
    assert m.inputs == 29 and m.drops["min_length:too_short"] == 2  # the whole new input, from scratch
