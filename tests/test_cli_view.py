"""What a newcomer reaches for (issue 16): `catalog head`, `catalog diff`, `synth run --dry-run`, shell
completion, one-line exit-2 errors for bad refs and options, and a start-up that imports no more than the
command needs (plain str/bool options without pydantic, no pyarrow for `catalog ls`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from catalogs import Store
from huijin.cli import app

ROOT = Path(__file__).resolve().parent.parent
HUIJIN = Path(sys.executable).parent / "huijin"
runner = CliRunner()


def cli(*args: str):
    return runner.invoke(app, list(args), env={"COLUMNS": "150"})


@pytest.fixture(scope="module")
def two_versions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """notes@1 (3 docs) and notes@2 (2 docs, one drop, another recipe, a new language) + an rl version
    (module-wide: the tests only read it)."""
    root = tmp_path_factory.mktemp("view") / "store"
    s = Store.open(root)
    with s.writer("notes", kind="doc", recipe={"source": "typed", "filters": {"min_chars": 5}}) as w:
        w.write([{"text": "Revenue rose 5% to $734 million.", "lang": "en"}, {"text": "Net income fell.", "lang": "en"},
                 {"text": "| item | 2019 |\n|---|---|\n| revenue | 8,464 |", "lang": "en"}])
    with s.writer("notes", kind="doc", recipe={"source": "typed", "filters": {"min_chars": 20}, "seed": 3}) as w:
        w.write([{"text": "Revenue rose 5% to $734 million.", "lang": "en"}, {"text": "营业收入增长。", "lang": "zh"}])
        w.count_drop("min_chars:too_short", 1)
    with s.writer("tasks", kind="rl", recipe={"generator": "typed"}) as w:
        w.write([{"prompt": [{"role": "user", "content": "What is 2+2?"}],
                  "reward_spec": json.dumps({"spec_version": 1, "type": "numeric", "answer": 4}),
                  "taxonomy": "numerical_reasoning/arithmetic/basic"}])
    return root


def test_head_prints_the_first_records(two_versions: Path) -> None:
    r = cli("catalog", "head", "notes@1", "-n", "2", "--store", str(two_versions))
    assert r.exit_code == 0, r.output
    assert "notes@1 (doc): first 2 of 3 records" in r.output
    assert "Revenue rose 5% to $734 million." in r.output and "Net income fell." in r.output
    assert "| revenue | 8,464 |" not in r.output  # only two
    r = cli("catalog", "head", "tasks", "--store", str(two_versions))
    assert "user: What is 2+2?" in r.output and '"answer": 4' in r.output
    r = cli("catalog", "head", "notes@2", "--json", "--store", str(two_versions))
    assert [json.loads(ln)["text"] for ln in r.output.splitlines()] == ["Revenue rose 5% to $734 million.",
                                                                        "营业收入增长。"]


def test_diff_names_what_changed(two_versions: Path) -> None:
    r = cli("catalog", "diff", "notes@1", "notes@2", "--json", "--store", str(two_versions))
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    sizes = {x["field"]: x for x in d["sizes"]}
    assert (sizes["rows"]["a"], sizes["rows"]["b"], sizes["rows"]["delta"]) == (3, 2, -1)
    assert d["drops"] == [{"key": "min_chars:too_short", "a": 0, "b": 1, "delta": 1}]
    assert {"key": "zh", "a": 0, "b": 1, "delta": 1} in d["stats"]["lang"]
    assert {(c["key"], c["change"], c["a"], c["b"]) for c in d["recipe"]} == {
        ("filters.min_chars", "changed", 5, 20), ("seed", "added", None, 3)}
    assert d["schema"] == [] and not d["same_content"]
    r = cli("catalog", "diff", "notes@1", "tasks@1", "--store", str(two_versions))
    assert r.exit_code == 0 and "doc → rl" in r.output and "schema" in r.output and "reward_spec" in r.output


@pytest.mark.parametrize("args, message", [
    (["catalog", "head", "nope@1"], "no version nope@1"),
    (["catalog", "head", "notes@9"], "no version notes@9"),
    (["catalog", "head", "bad name!"], "invalid dataset name"),
    (["catalog", "head", "notes@0"], "invalid version"),
    (["catalog", "head", "notes", "-n", "0"], "-n 0"),
    (["catalog", "diff", "notes@1", "nope"], "no version nope@latest"),
    (["catalog", "serve", "--port", "0"], "--port 0"),
    (["synth", "run", "advisory_dialogues", "--dry-run", "--endpoint", "nope"], "no endpoint 'nope'"),
    (["synth", "run", "advisory_dialogues", "--dry-run"], "needs a teacher endpoint"),
    (["synth", "run", "no_such_recipe", "--dry-run"], "no recipe 'no_such_recipe'"),
    (["catalog", "head", "notes", "--bogus"], "No such option: --bogus"),
    (["catalog", "head"], "Missing argument"),
    (["catalog", "nosuch"], "No such command 'nosuch'"),
])
def test_bad_refs_and_options_are_one_line_exit_2(two_versions: Path, args: list[str], message: str) -> None:
    r = runner.invoke(app, [*args, "--store", str(two_versions)], env={"COLUMNS": "150"})
    assert r.exit_code == 2, r.output
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in r.output, r.output


def test_head_of_a_file_version_and_a_missing_store(tmp_path: Path) -> None:
    s = Store.open(tmp_path / "store")
    model = tmp_path / "clf.bin"
    model.write_bytes(b"weights")
    s.artifacts.register("clf", "classifier", model)
    r = cli("catalog", "head", "clf", "--store", str(s.root))
    assert r.exit_code == 2 and "'artifact' version: it holds files" in r.output
    r = cli("catalog", "head", "notes", "--store", str(tmp_path / "nowhere"))
    assert r.exit_code == 2 and "no huijin store" in r.output and not (tmp_path / "nowhere").exists()


def test_synth_dry_run_counts_requests_and_cost_and_writes_nothing(two_versions: Path) -> None:
    before = sorted(p.relative_to(two_versions) for p in two_versions.rglob("*"))
    r = cli("synth", "run", "advisory_dialogues", "--endpoint", "deepseek-chat", "--limit", "3", "--dry-run",
            "--json", "--store", str(two_versions))
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["requests"] == 3 and d["to_send"] == 3 and d["cached"] == 0 and d["by_step"] == {"dialogues": 3}
    sent = json.dumps(d["samples"][0]["messages"], ensure_ascii=False)
    chars = len(json.dumps({"messages": d["samples"][0]["messages"], **d["samples"][0]["params"]},
                           ensure_ascii=False))
    assert "conversation" in sent and d["samples"][0]["params"]["max_tokens"] == 4096
    assert d["input_tokens_est"] >= 3 * 0.5 * chars / 4  # ~4 characters per token over three similar prompts
    assert d["output_tokens_max"] == 3 * 4096  # each reply bounded by the endpoint's max_tokens
    price = d["price_per_million"]
    assert d["cost_usd_max"] == pytest.approx((d["input_tokens_est"] * price["input"]
                                               + d["output_tokens_max"] * price["output"]) / 1e6, abs=1e-6)
    assert sorted(p.relative_to(two_versions) for p in two_versions.rglob("*")) == before  # nothing written
    r = cli("synth", "run", "advisory_dialogues", "--endpoint", "deepseek-chat", "--limit", "2", "--dry-run",
            "--store", str(two_versions))
    assert "nothing sent, nothing written" in r.output and "request 1 of 2" in r.output
    r = cli("synth", "run", "programmatic_tables", "--dry-run", "--store", str(two_versions))
    assert r.exit_code == 0 and "asks no teacher" in r.output


def _complete(words: str, cword: int, store: Path | None = None) -> list[str]:
    env = {**os.environ, "_HUIJIN_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(cword)}
    if store is not None:
        env["HUIJIN_STORE"] = str(store)
    p = subprocess.run([str(HUIJIN)], env=env, capture_output=True, text=True, timeout=120)
    return p.stdout.split()


@pytest.mark.skipif(not HUIJIN.exists(), reason="the huijin script is not installed beside this interpreter")
def test_shell_completion(two_versions: Path) -> None:
    # the script as `eval "$(_HUIJIN_COMPLETE=source_bash huijin)"` sources it: `--show-completion` would detect the
    # shell from the process tree, which under make/pytest finds sh (or nothing) instead of bash
    env = {**os.environ, "_HUIJIN_COMPLETE": "source_bash"}
    p = subprocess.run([str(HUIJIN)], env=env, capture_output=True, text=True, timeout=120)
    assert "complete -o default -F _huijin_completion huijin" in p.stdout
    assert _complete("huijin cat", 1) == ["catalog"]
    assert {"head", "diff", "serve"} <= set(_complete("huijin catalog ", 2))
    assert _complete("huijin catalog head not", 3, two_versions) == ["notes@1", "notes@2"]  # refs from the store


def test_plain_options_skip_pydantic_and_catalog_ls_skips_pyarrow(two_versions: Path) -> None:
    """`huijin catalog ls` parses its str/bool options without typer's pydantic coercion and reads the
    catalog without pyarrow/pandas (what made start-up 0.4-0.7 s); numbers are still validated by typer."""
    code = ("import sys, atexit\n"
            "atexit.register(lambda: print('LOADED', *sorted(m for m in ('pydantic', 'pyarrow', 'pandas', 'numpy', "
            "'torch', 'transformers') if m in sys.modules), file=sys.stderr))\n"
            "from huijin.cli import main\nmain()\n")
    p = subprocess.run([sys.executable, "-c", code, "catalog", "ls", "--json", "--store", str(two_versions)],
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert p.returncode == 0, p.stderr
    assert [r["name"] for r in json.loads(p.stdout)] == ["notes", "notes", "tasks"]
    assert p.stderr.strip().splitlines()[-1] == "LOADED"
    r = cli("synth", "run", "programmatic_tables", "--limit", "0", "--dry-run")  # an int with min=1: typer's
    assert r.exit_code == 2 and r.output.startswith("error: Invalid value for '--limit'") and len(r.output.splitlines()) == 1
    r = cli("catalog", "ls", "notes", "--kind", "doc", "--json", "--store", str(two_versions))  # str argument + option
    assert [(x["name"], x["version"]) for x in json.loads(r.output)] == [("notes", 1), ("notes", 2)]


@pytest.mark.skipif(not HUIJIN.exists(), reason="the huijin script is not installed beside this interpreter")
def test_catalog_serve_answers_on_localhost(two_versions: Path) -> None:
    """The real command: a server on 127.0.0.1 that lists the store's versions and stops on SIGTERM."""
    import socket
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    p = subprocess.Popen([str(HUIJIN), "catalog", "serve", "--port", str(port), "--store", str(two_versions)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        page = None
        for _ in range(300):
            try:
                page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).read().decode()
                break
            except OSError:
                assert p.poll() is None, p.stderr.read()
                time.sleep(0.1)
        assert page is not None and 'data-ref="notes@2"' in page and 'data-ref="tasks@1"' in page
    finally:
        p.terminate()
        out, _ = p.communicate(timeout=30)
    assert f"at http://127.0.0.1:{port}/ (read-only" in " ".join(out.split())


def test_help_loads_no_markdown_or_traceback_and_is_unchanged() -> None:
    """`huijin --help` formats with typer's rich help without importing markdown-it/pygments/attrs (they back
    features huijin does not use); the text is the one the full app prints."""
    code = ("import sys, atexit\n"
            "atexit.register(lambda: print('LOADED', *sorted(m for m in ('markdown_it', 'rich.markdown', "
            "'rich.traceback', 'pygments', 'attr') if m in sys.modules), file=sys.stderr))\n"
            "sys.argv[0] = 'huijin'\nfrom huijin.cli import main\nmain()\n")
    env = {**os.environ, "COLUMNS": "120"}
    p = subprocess.run([sys.executable, "-c", code, "--help"], capture_output=True, text=True, cwd=ROOT,
                       env=env, timeout=120)
    assert p.returncode == 0 and p.stderr.strip().splitlines()[-1] == "LOADED"
    full = subprocess.run([sys.executable, "-c", "from huijin.cli import app; app(prog_name='huijin')", "--help"],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert p.stdout == full.stdout and "catalog" in p.stdout and "--log-file" in p.stdout
    from huijin.typer_fast import light_help

    light_help()  # the stand-ins, if this process had not loaded typer's formatter yet, work as the real ones
    import rich.markdown
    import rich.traceback
    import typer.rich_utils as ru

    assert isinstance(ru.Markdown("*x*"), rich.markdown.Markdown)
    try:
        raise ValueError("boom")
    except ValueError as e:
        assert isinstance(ru.Traceback.from_exception(type(e), e, e.__traceback__), rich.traceback.Traceback)
