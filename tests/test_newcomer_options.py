"""Issue 18 item 5: one option vocabulary across every verb (walked from the live command tree), help text on
every option, no Python types in help, and the old spellings still accepted (hidden) for one release."""

from __future__ import annotations

import re

import pytest
import typer
from typer.testing import CliRunner

from huijin.cli import app
from huijin.options import RENAMED, rewrite_old_spellings

OLD = {old for names in RENAMED.values() for old in names}


def _walk(cmd, path=()):
    yield path, cmd
    for name, sub in getattr(cmd, "commands", {}).items():
        yield from _walk(sub, (*path, name))


COMMANDS = list(_walk(typer.main.get_command(app)))


def test_the_tree_is_walked():
    paths = {" ".join(p) for p, _ in COMMANDS}
    assert {"catalog import", "curate run", "curate classify", "curate decontaminate", "synth run", "train run",
            "synth export", "eval"} <= paths and len(paths) > 30


@pytest.mark.parametrize("path, cmd", COMMANDS, ids=[" ".join(p) or "huijin" for p, _ in COMMANDS])
def test_every_option_follows_the_vocabulary_and_has_help(path, cmd):
    for p in cmd.params:
        if p.param_type_name != "option":
            continue
        where = f"huijin {' '.join(path)} {'/'.join(p.opts)}"
        assert (p.help or "").strip(), f"{where}: no help text"
        assert not OLD & set(p.opts), f"{where}: an old spelling is visible"
        assert not {"--text-key", "--out", "--version"} & set(p.opts), where
        if "--input" in p.opts or "-i" in p.opts:
            assert {"-i", "--input"} <= set(p.opts) and p.multiple, f"{where}: -i/--input, repeatable"
        if "--output" in p.opts or "-o" in p.opts:
            assert {"-o", "--output"} <= set(p.opts), f"{where}: -o/--output"


PY_TYPE = re.compile(r"<(?:list|dict|tuple|int|float|str|bool|Path|datetime)\b[^>]*>"
                     r"|\b(?:list|dict|tuple|Optional|Path|str|int|float|bool)\[|<class ")


def test_no_parameter_shows_a_python_type():
    """What the help's type column shows for every option and argument of every command (no rendering)."""
    bad = []
    for path, cmd in COMMANDS:
        ctx = cmd.context_class(cmd, info_name=(path or ("huijin",))[-1])
        for p in cmd.params:
            if p.name in ("install_completion", "show_completion"):
                continue  # typer adds these to the top group after it is built: the rendered test covers them
            shown = p.display_type_rich(ctx) if hasattr(p, "display_type_rich") else p.make_metavar(ctx)
            if shown and (PY_TYPE.search(f"<{shown}>") or PY_TYPE.search(str(shown))):
                bad.append((" ".join(path), p.name, shown))
    assert not bad, bad


@pytest.mark.parametrize("path", [(), ("catalog", "import"), ("curate", "run"), ("taxonomy", "coverage"),
                                  ("synth", "run"), ("eval", "compare")])
def test_rendered_help_shows_no_python_types(path):
    """Commands with list, int-range, bool and path parameters, rendered as a user sees them."""
    out = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "200"}).output
    assert "Usage:" in out
    assert not PY_TYPE.findall(out), (path, PY_TYPE.findall(out))


def test_output_versions_are_named_with_name():
    """The verbs that write a version name it with --name (classify and decontaminate used --version)."""
    for path in (("curate", "classify"), ("curate", "decontaminate"), ("curate", "run"), ("curate", "mix"),
                 ("catalog", "import"), ("synth", "run"), ("train", "tokenize")):
        cmd = dict(COMMANDS)[path]
        name = next(p for p in cmd.params if "--name" in getattr(p, "opts", []))
        assert "version" in name.help or "name" in name.help, path


@pytest.mark.parametrize("old, new", [
    (["curate", "dedup", "-i", "x.jsonl", "--text-key", "item_*", "--out", "k.jsonl"],
     ["curate", "dedup", "-i", "x.jsonl", "--text-field", "item_*", "--output", "k.jsonl"]),
    (["curate", "classify", "--model", "m@1", "--input", "d@1", "--version", "d-scored", "--name", "fin"],
     ["curate", "classify", "--model", "m@1", "--input", "d@1", "--name", "d-scored", "--score-name", "fin"]),
    (["curate", "decontaminate", "--input=d@1", "--version=d-clean"],
     ["curate", "decontaminate", "--input=d@1", "--name=d-clean"]),
    (["catalog", "import", "f.jsonl", "--version", "1"], ["catalog", "import", "f.jsonl", "--version", "1"]),
])
def test_old_spellings_are_rewritten(old, new):
    told: list[str] = []
    assert rewrite_old_spellings(old, told.append) == new
    assert all("is now" in t for t in told) and bool(told) == (old != new)


def test_an_old_spelling_still_works_end_to_end(store, tmp_path):
    with store.writer("tasks", kind="rl") as w:
        w.write([{"prompt": [{"role": "user", "content": "Compute the ratio."}],
                  "reward_spec": {"spec_version": 1, "type": "exact", "answer": "2"}}])
    out = tmp_path / "rl.parquet"
    r = CliRunner().invoke(app, ["synth", "export", "tasks@1", "--out", str(out), "--store", str(store.root)])
    assert r.exit_code == 0, r.output
    import pyarrow.parquet as pq

    assert pq.read_table(out).num_rows == 1
    assert "--out is now --output" in r.stderr
