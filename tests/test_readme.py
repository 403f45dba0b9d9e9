"""Issue 18 item 8: the README's commands run as written.

Every ``$`` line of the README's ``console`` blocks (with ``\\`` continuations and ``<<'EOF'`` here-documents)
and every ``python`` block is run, top to bottom, in a temporary folder beside a link to the shared data
(``../shared/data`` resolves as it does from the repository root) and against that folder's own store.
Optional parts written ``[--json]`` are left out; comments after two spaces are dropped. ``huijin`` commands
run in-process (``CliRunner``: no interpreter start per line), other lines through ``bash``, a line ending in
``&`` in the background until the end. A command is skipped only for a reason named in ``SKIP``.

The fast test runs the catalog section and the Python snippet; the whole file (curation on the shared WARC and
HTML, the classifier, synthesis against the fake teacher) takes minutes and is ``slow``. The Python blocks run
in-process too (``exec`` in the temporary folder).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"

# a command matching the pattern is not run, for this reason
SKIP = {
    r"^huijin demo\b": "the full demo takes minutes; the session's `huijin demo --quick` fixture (conftest) runs it",
    r"--endpoint vllm-local": "needs a real teacher endpoint (vllm-local, recipes/teachers.yaml)",
    r"^huijin (train|eval)\b": "needs the demo's snapshot and models and trains for minutes; the demo and "
                               "tests/test_training_cli.py run these verbs",
}


@dataclass
class Command:
    section: str
    line: int
    text: str
    heredoc: str | None = None
    background: bool = False

    @property
    def skip(self) -> str | None:
        return next((why for pat, why in SKIP.items() if re.search(pat, self.text)), None)


def parse(text: str) -> tuple[list[Command], list[tuple[str, int, str]]]:
    """``(console commands, python blocks)`` in README order, each with its section and line number."""
    cmds: list[Command] = []
    pys: list[tuple[str, int, str]] = []
    lines = text.splitlines()
    section, i, fence = "", 0, None
    while i < len(lines):
        ln = lines[i]
        if fence is None and ln.startswith("## "):
            section = ln[3:].strip()
        if ln.startswith("```"):
            if fence is None:
                fence, start = ln[3:].strip(), i
                body: list[str] = []
            else:
                if fence == "python":
                    pys.append((section, start + 1, "\n".join(body)))
                fence = None
            i += 1
            continue
        if fence == "python":
            body.append(ln)
        elif fence == "console" and ln.startswith("$ "):
            at, cmd = i + 1, ln[2:]
            while cmd.rstrip().endswith("\\"):
                i += 1
                cmd = cmd.rstrip()[:-1] + " " + lines[i].strip()
            cmd = re.sub(r"\s{2,}#.*$", "", cmd)  # a trailing comment
            cmd = re.sub(r"\s\[[^\]]*\]", "", cmd).strip()  # optional parts: [--json], [REF]
            doc = None
            m = re.search(r"<<\s*'?(\w+)'?", cmd)
            if m:
                end = lines.index(m.group(1), i + 1)
                doc, i = "\n".join(lines[i + 1:end]) + "\n", end
            bg = cmd.endswith("&")
            cmds.append(Command(section, at, cmd.rstrip("&").strip(), doc, bg))
        i += 1
    return cmds, pys


class Runner:
    """Runs commands in ``work`` (beside ``../shared`` → the shared folder), keeping background processes."""

    def __init__(self, work: Path) -> None:
        self.work, self.bg = work, []
        self.env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
                    "HF_HUB_OFFLINE": "1", "COLUMNS": "150"}
        self.env.pop("HUIJIN_STORE", None)  # the folder's own ./huijin-store

    def __call__(self, c: Command) -> str:
        where = f"README.md:{c.line} ({c.section}): $ {c.text}"
        if c.background:
            self.bg.append(subprocess.Popen(["bash", "-c", c.text], cwd=self.work, env=self.env,
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                            start_new_session=True))  # its own group: close() ends it all
            self._wait_for_port(c.text)
            return ""
        words = shlex.split(c.text) if c.heredoc is None else []
        if words and words[0] == "huijin":
            from huijin.cli import app

            r = CliRunner().invoke(app, words[1:], env={"COLUMNS": "150"})
            assert r.exit_code == 0, f"{where}\n{r.output[-3000:]}"
            return r.output
        p = subprocess.run(["bash", "-c", c.text + ("\n" + c.heredoc if c.heredoc else "")], cwd=self.work,
                           env=self.env, capture_output=True, text=True, timeout=600)
        assert p.returncode == 0, f"{where}\n{p.stdout[-2000:]}\n{p.stderr[-3000:]}"
        return p.stdout

    def python(self, section: str, line: int, code: str) -> str:
        """Run a python block in-process (cwd is ``work``), as pasted into ``python``; returns what it printed."""
        import contextlib
        import io

        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            exec(compile("\n" * line + code, str(README), "exec"), {"__name__": "__readme__"})  # line numbers
        return buf.getvalue()

    def _wait_for_port(self, text: str) -> None:
        import urllib.request

        m = re.search(r"--port (\d+)", text)
        if not m:
            return
        url = f"http://127.0.0.1:{m.group(1)}/v1/models"
        for _ in range(100):
            try:
                urllib.request.urlopen(url, timeout=1)
                return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"{text}: nothing answers {url}")

    def close(self) -> None:
        import signal

        for p in self.bg:  # bash and what it started (the server itself), by process group
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            p.wait(10)


@pytest.fixture
def runner(tmp_path, shared_data, monkeypatch):
    (tmp_path / "shared").symlink_to(shared_data.parent)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)  # in-process huijin commands resolve ../shared/data and ./huijin-store here
    monkeypatch.delenv("HUIJIN_STORE", raising=False)
    monkeypatch.setenv("COLUMNS", "150")
    r = Runner(work)
    yield r
    r.close()


def test_the_readme_parses_and_every_skip_has_a_reason():
    cmds, pys = parse(README.read_text(encoding="utf-8"))
    sections = {c.section for c in cmds}
    assert {"The catalog", "Curation", "Synthesis", "Training"} <= sections and len(pys) == 1
    run = [c for c in cmds if not c.skip]
    assert len(run) >= 30 and all(c.skip for c in cmds if c.text.startswith(("huijin train", "huijin demo")))
    heredoc = next(c for c in cmds if c.heredoc)
    assert "base_url: http://127.0.0.1:8001/v1" in heredoc.heredoc  # the teachers file for the fake server
    assert any(c.background and "synthesis.testing.server --port 8001" in c.text for c in cmds)
    assert not [c.text for c in cmds if "[" in c.text and "item_" not in c.text]  # optional parts removed


def test_the_catalog_section_and_the_python_snippet_run(runner):
    cmds, pys = parse(README.read_text(encoding="utf-8"))
    outs = {c.text: runner(c) for c in cmds if c.section == "The catalog" and not c.skip}
    assert len(outs) >= 14
    show = outs["huijin catalog show x@1"]
    assert "quarantine shard(s)" in " ".join(show.split())
    assert "raw" in outs["huijin catalog lineage filings@1"] and "sec_10k_items.jsonl" in outs["huijin catalog "
                                                                                              "lineage filings@1"]
    out = runner.python(*pys[0])
    assert out.split() == ["notes@1", "notes-clean@1", "['notes']"]


@pytest.mark.slow
def test_every_readme_command_runs(runner):
    cmds, pys = parse(README.read_text(encoding="utf-8"))
    skipped = {}
    for c in cmds:
        if c.skip:
            skipped[c.text] = c.skip
            continue
        runner(c)
    for py in pys:
        runner.python(*py)
    print("skipped:", *(f"  {k}: {v}" for k, v in skipped.items()), sep="\n")
