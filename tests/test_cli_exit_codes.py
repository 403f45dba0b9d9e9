"""One exit-code rule for the commands' known errors (``huijin.common.KNOWN_ERRORS``): bad input — a ref, store,
file or name that is not there — is one line and exit 2; a failure while doing the work is one line and exit 1;
the same error gets the same code in `catalog`, `catalog head/diff/serve` and `curate classify/mix/…`."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner
from yaml.parser import ParserError

from catalogs.importer import ImportFailed
from catalogs.index import CatalogDamaged
from catalogs.refs import RefError
from catalogs.schemas import SchemaError
from catalogs.snapshots import SnapshotError
from catalogs.sql import QueryError, QueryLimitError
from finance.benchmarks import BenchmarkFormatError, BenchmarkMissing
from huijin.cli import app
from huijin.common import exit_code_of

runner = CliRunner()


@pytest.mark.parametrize("error,code", [
    (RefError("no version x@1"), 2), (FileNotFoundError("no huijin store at s"), 2), (KeyError("no run 'r'"), 2),
    (CatalogDamaged("damaged"), 1), (TimeoutError("locked"), 1), (QueryError("bad sql"), 1),
    (QueryLimitError("time limit"), 1), (SchemaError("bad row"), 1), (SnapshotError("immutable"), 1),
    (ImportFailed("f:2: bad"), 1), (ValueError("a value"), 1), (BenchmarkMissing("x.json does not exist"), 2),
    (BenchmarkFormatError("x.json: not FinQA"), 1),
    (RuntimeError("a bug"), None), (TypeError("a bug"), None), (OSError("disk"), None),  # tracebacks
    (ParserError("not YAML"), 2),  # a malformed recipe or config file
])
def test_exit_code_of(error: BaseException, code: int | None) -> None:
    assert exit_code_of(error) == code


@pytest.fixture
def st(tmp_path) -> str:
    f = tmp_path / "a.jsonl"
    f.write_text(json.dumps({"text": "a filing"}) + "\n")
    root = str(tmp_path / "s")
    assert runner.invoke(app, ["catalog", "import", str(f), "--kind", "doc", "--name", "a", "--store", root]).exit_code == 0
    return root


@pytest.mark.parametrize("args,code,said", [
    (["catalog", "show", "nope"], 2, "no version nope@latest"),
    (["catalog", "head", "nope@1"], 2, "no version nope@1"),
    (["catalog", "diff", "a@1", "a@9"], 2, "no version a@9"),
    (["catalog", "import", "MISSING", "--kind", "doc", "--name", "b"], 2, "no such file"),
    (["curate", "mix", "MISSING", "--name", "m"], 2, "MISSING"),
    (["curate", "decontaminate", "-i", "a@1", "--benchmark", "fq=MISSING", "--report", "REPORT", "--name", "d"], 2,
     "benchmark fq: MISSING does not exist"),
    (["catalog", "query", "select nosuchcolumn from versions"], 1, "nosuchcolumn"),
    (["catalog", "head", "a@1", "--store", "NOWHERE"], 2, "no huijin store"),
])
def test_same_error_same_code_in_every_command_group(st: str, tmp_path, args: list[str], code: int,
                                                     said: str) -> None:
    args = [a.replace("MISSING", str(tmp_path / "MISSING")).replace("REPORT", str(tmp_path / "r.json")) for a in args]
    said = said.replace("MISSING", str(tmp_path / "MISSING"))
    if "--store" in args:
        args[args.index("--store") + 1] = str(tmp_path / "nowhere")
    else:
        args += ["--store", st]
    r = runner.invoke(app, args)
    assert r.exit_code == code, r.output
    assert "Traceback" not in r.output and len(r.output.strip().splitlines()) == 1, r.output
    assert said in " ".join(r.output.split()), r.output


def test_an_error_no_command_handled_is_one_line_and_exit_1(st: str, monkeypatch) -> None:
    """A bug (an error no rule knows) is a failure while working: exit 1 like Python's own, never the exit 2 that
    says the input was bad; the traceback comes with --verbose."""
    import catalogs.raw_inputs as raw

    def broken(*a, **k):
        raise RuntimeError("a bug in the lineage walk")

    monkeypatch.setattr(raw, "lineage_with_raw", broken)
    monkeypatch.delenv("HUIJIN_VERBOSE", raising=False)
    r = runner.invoke(app, ["catalog", "lineage", "a@1", "--store", st])
    assert r.exit_code == 1, r.output
    assert "RuntimeError: a bug in the lineage walk" in r.output and "Traceback" not in r.output
