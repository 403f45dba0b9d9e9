"""Issue 19 reproductions on the CLI: values validated up front, every error one line (exit 2 for a bad value),
the traceback only with --verbose."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from huijin.cli import app

runner = CliRunner()


def _cli(*args: str):
    return runner.invoke(app, list(args))


def _one_line(r, code: int = 2, *needles: str) -> None:
    assert r.exit_code == code, r.output
    assert "Traceback" not in r.output and len(r.output.strip().splitlines()) == 1, r.output
    for n in needles:
        assert n in r.output, r.output


@pytest.fixture
def st(tmp_path):
    f = tmp_path / "a.jsonl"
    f.write_text(json.dumps({"text": "a filing"}) + "\n")
    root = str(tmp_path / "s")
    assert _cli("catalog", "import", str(f), "--kind", "doc", "--name", "a", "--store", root).exit_code == 0
    return root


def test_import_on_error_value(st, tmp_path):
    _one_line(_cli("catalog", "import", str(tmp_path / "a.jsonl"), "--kind", "doc", "--name", "b", "--on-error",
                   "ignore", "--store", st), 2, "--on-error 'ignore'")
    _one_line(_cli("catalog", "import", str(tmp_path / "a.jsonl"), "--kind", "nope", "--name", "b", "--store", st),
              2, "--kind 'nope'")


def test_import_missing_text_field_is_not_silently_text(st, tmp_path):
    r = _cli("catalog", "import", str(tmp_path / "a.jsonl"), "--kind", "doc", "--name", "b", "--text-field", "body",
             "--store", st)
    _one_line(r, 1, "no text field 'body'")
    r = _cli("catalog", "import", str(tmp_path / "a.jsonl"), "--kind", "doc", "--name", "b", "--text-field", "body",
             "--on-error", "quarantine", "--store", st)
    assert r.exit_code == 0, r.output
    from catalogs import Store

    m = Store.open(st).resolve("b")
    assert m.rows == 0 and m.n_quarantined == 1 and m.inputs == 1


@pytest.mark.parametrize("w", ["nan", "inf", "-inf", "0", "-1"])
def test_snapshot_weight_finite_positive(st, w):
    _one_line(_cli("catalog", "snapshot", "create", "s1", "--stage", f"cpt=a:{w}", "--store", st), 2, "finite")


def test_snapshot_weight_library(st):
    from catalogs import SnapshotError, Store

    with pytest.raises(SnapshotError, match="finite"):
        Store.open(st).snapshots.create("s1", {"cpt": [("a", float("nan"))]})


def test_snapshot_unknown_stage(st):
    _one_line(_cli("catalog", "snapshot", "create", "s1", "--stage", "bogus=a:1", "--store", st), 2,
              "unknown stage", "cpt")
    assert _cli("catalog", "snapshot", "create", "s1", "--stage", "cpt=a:1", "--store", st).exit_code == 0


@pytest.mark.parametrize("opt", [["--gpus", "-1"], ["--gpus", "0"], ["--nodes", "0"], ["--stages", "cpt,bogus"]])
def test_train_run_values(st, tmp_path, opt):
    r = _cli("train", "run", "--snapshot", "s1", "--output", str(tmp_path / "o"), *opt, "--store", st)
    _one_line(r, 2)
    assert not (tmp_path / "o").exists()


def test_tokenize_workers(st, tmp_path):
    _one_line(_cli("train", "tokenize", "a@1", "--tokenizer", str(tmp_path), "--workers", "0", "--store", st), 2,
              "--workers")


def test_extract_languages(st, tmp_path):
    out = tmp_path / "x.jsonl"
    _one_line(_cli("curate", "extract", "-i", str(tmp_path / "a.jsonl"), "-o", str(out), "--languages", "xx,yy"),
              2, "xx, yy")
    assert not out.exists()


def test_malformed_recipe_yaml_is_one_line(tmp_path, monkeypatch):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nsteps: [a: b: c\n")
    r = _cli("curate", "run", str(bad), "-i", str(tmp_path / "none.jsonl"), "--store", str(tmp_path / "s"))
    _one_line(r, 2, "--verbose")
    r = _cli("--verbose", "curate", "run", str(bad), "-i", str(tmp_path / "none.jsonl"), "--store", str(tmp_path / "s"))
    assert r.exit_code != 0 and r.exception is not None and not isinstance(r.exception, SystemExit)
