"""Every `huijin` command that does long work, run for real on tiny inputs in the default (quiet) mode (issue
16): it ends with its summary table, shows at most one progress bar (its own), and prints none of its
libraries' noise — warnings, DeepSpeed's lines, Hugging Face's or datatrove's bars and logs.

One row per command: the command line, words of its summary table, and the description of its progress bar
(None: it prints progress as lines, or not at all). Commands that need another's output name it in ``after``;
each runs once per module, in a subprocess as a user runs it (stdout and stderr captured, not a terminal)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from catalogs import Store

ROOT = Path(__file__).resolve().parent.parent

# what libraries print for their own sake; our own lines never match
NOISE = [re.compile(p) for p in (
    r"\[(WARNING|INFO)\]",  # DeepSpeed's logger
    r"Setting accelerator to", r"built successfully",  # DeepSpeed's logger and its print()
    r"Loading weights", r"Writing model shards", r"Loading checkpoint shards",  # transformers' bars
    r"\| (INFO|WARNING|DEBUG) +\| ",  # loguru (datatrove's task logs)
    r"\b\w+Warning: ", r"^Traceback ",
)]
# a tqdm bar: "desc:  40%|████      | 2/5 [..." or "desc: 12doc [00:01, ...]"; group 1 is its description
BAR = re.compile(r"^([^:\[\]|\r\n]+?): +(?:\d+%\||\d+[^\W\d]*(?: [^\W\d]+)? \[\d+:\d\d)")
TEXT = "Revenue rose {i}% to ${i}34 million and net income grew on higher margins in quarter {i}. "


@dataclass
class Case:
    args: list[str]
    table: list[str]  # words of the summary table (title and headers)
    bar: str | None = None  # the description of its own progress bar, when it shows one
    after: list[str] = field(default_factory=list)
    shared: bool = False  # reads the shared third-party data


def _cases(w: Path) -> dict[str, Case]:
    tok, model = str(w / "tok"), str(w / "model")
    small = ["--set", "max_steps=2", "--set", "micro_batch=1", "--set", "grad_accum=1", "--set", "seq_len=128"]
    return {
        "catalog import": Case(["catalog", "import", str(w / "docs.jsonl"), "--kind", "doc", "--name", "imp"],
                               ["imported", "version", "quarantined"], "import imp"),
        "catalog select": Case(["catalog", "select", "imp@1", "--where", "length(text) > 100", "--name", "imp-long"],
                               ["selected", "parent", "dropped"], after=["catalog import"]),
        "catalog verify": Case(["catalog", "verify"], ["verified", "shards", "problems"], after=["catalog import"]),
        "catalog rebuild": Case(["catalog", "rebuild"], ["catalog rebuilt", "table", "rows"]),
        "curate run": Case(["curate", "run", "fin_web", "-i", str(w / "paras.jsonl"), "--name", "web"],
                           ["what", "count", "kept", "docs/s"], "rank 0 read", shared=True),
        "curate run --workers 2": Case(["curate", "run", "fin_web", "-i", f"{w / 'paras.jsonl'},{w / 'docs.jsonl'}",
                                        "--tasks", "2", "--workers", "2", "--name", "web2"],
                                       ["what", "count", "kept", "docs/s"], "rank 0 read", shared=True),
        "curate extract": Case(["curate", "extract", "-i", "{shared}/warc/warcio/example.warc.gz", "-o",
                                str(w / "ex.jsonl")], ["extract", "what", "written"], "rank 0 read", shared=True),
        "curate dedup": Case(["curate", "dedup", "-i", str(w / "docs.jsonl"), "-o", str(w / "dd.jsonl")],
                             ["dedup", "what", "kept", "removed exact_duplicate"], "rank 0 read"),
        "curate train-classifier": Case(["curate", "train-classifier", "--name", "toy", "--positive",
                                         str(w / "pos.jsonl"), "--negative", str(w / "neg.jsonl"), "-o",
                                         str(w / "clf"), "--epoch", "2", "--no-quantize"],
                                        ["held-out evaluation", "precision", "recall", "roc_auc"]),
        "curate classify": Case(["curate", "classify", "--model", "toy@1", "-i", "imp@1", "-o", str(w / "cl.jsonl")],
                                ["classify with toy", "kept", "mean score"], "classify",
                                after=["curate train-classifier", "catalog import"]),
        "curate decontaminate": Case(["curate", "decontaminate", "--benchmark", f"b={w / 'bench.jsonl'}", "-i",
                                      str(w / "docs.jsonl"), "-o", str(w / "dc.jsonl"), "--report",
                                      str(w / "dc.json")], ["benchmarks", "decontaminate (remove)", "flagged"],
                                     "decontaminate"),
        "curate mix": Case(["curate", "mix", str(w / "mix.yaml"), "--name", "mixed"], ["source", "target", "achieved"]),
        "synth run": Case(["synth", "run", "programmatic_tables", "--limit", "4"],
                          ["synth run programmatic_tables", "kept", "acceptance"], shared=True),
        "synth export": Case(["synth", "export", "fin-table-rl@1", "-o", str(w / "rl.parquet")],
                             ["exported", "rows", "format"], after=["synth run"], shared=True),
        "verify finqa": Case(["verify", "finqa", "{shared}/finqa/train_100.json"], ["verify finqa", "agree"],
                             shared=True),
        "train tokenize": Case(["train", "tokenize", "fin-docs@1", "--tokenizer", tok],
                               ["tokens version", "docs", "tokens"], "tokenize fin-docs@1"),
        "train run": Case(["train", "run", "--snapshot", "train-demo", "--stages", "cpt", "--model", model, "-o",
                           str(w / "out"), *small], ["runs from snapshot train-demo", "loss", "data that trained"]),
        "eval": Case(["eval", "--model", model, "--suite", "fin_tiny", "--limit", "1"],
                     ["fin_tiny", "accuracy", "by taxonomy leaf", "by language"], "eval fin_tiny", shared=True),
    }


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with the demo's doc/sft versions and snapshot, a tokenizer and a tiny model, and input files."""
    from training.demo_data import build_inputs
    from training.tiny import build_tiny_model, train_tokenizer

    w = tmp_path_factory.mktemp("long")
    s = Store.open(w / "store")
    build_inputs(s, n_docs=40, n_conv=8)
    tok = train_tokenizer((r["text"] for r in s.iter_records("fin-docs@1")), w / "tok", 400)
    build_tiny_model(tok, w / "model", seed=0)

    def jsonl(name: str, texts: list[str]) -> None:
        (w / name).write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf-8")

    docs = [TEXT.format(i=i) * 4 for i in range(12)]
    jsonl("docs.jsonl", [*docs, docs[0]])
    jsonl("pos.jsonl", [TEXT.format(i=i) * 5 for i in range(60)])
    jsonl("neg.jsonl", [f"The river delta number {i} supports migratory birds and wetlands. " * 5 for i in range(60)])
    jsonl("bench.jsonl", [docs[3]])
    wiki = Path(os.environ.get("HUIJIN_SHARED_DATA", ROOT.parent / "shared" / "data")) / "general_text" / \
        "wiki_paragraphs.jsonl"
    if wiki.is_file():  # clean paragraphs that pass fin_web's quality filters, one of them twice
        paras = [r["text"] for r in map(json.loads, wiki.open(encoding="utf-8"))
                 if r["source"] == "xquad.en" and len(r["text"].split()) >= 120][:6]
        jsonl("paras.jsonl", [*paras, paras[0]])
    (w / "mix.yaml").write_text("seed: 1\ntotal_tokens: 3000\nsources:\n"
                                "  - {name: fin, ref: fin-docs, share: 0.7, max_epochs: 3}\n"
                                "  - {name: gen, ref: gen-docs, share: 0.3, max_epochs: 3}\n", encoding="utf-8")
    return w


@pytest.fixture(scope="module")
def outputs(work: Path):
    """Run a case (and the cases it comes after) once; its exit code and everything it printed."""
    cases, done = _cases(work), {}
    shared = os.environ.get("HUIJIN_SHARED_DATA", str(ROOT.parent / "shared" / "data"))
    env = {k: v for k, v in os.environ.items() if k not in ("HUIJIN_VERBOSE", "FORCE_COLOR", "TTY_COMPATIBLE")}
    env.update(HF_HUB_OFFLINE="1", HUIJIN_EVAL_DATA=shared)

    def run(name: str) -> tuple[int, str, str]:
        if name not in done:
            case = cases[name]
            for dep in case.after:
                assert run(dep)[0] == 0, f"{dep} (needed by {name}) failed"
            args = [a.replace("{shared}", shared) for a in case.args]
            store = [] if args[0] == "verify" else ["--store", str(work / "store")]
            p = subprocess.run([sys.executable, "-m", "huijin.cli", *args, *store], capture_output=True, text=True,
                               cwd=work, env=env, timeout=600)
            done[name] = (p.returncode, p.stdout, p.stderr)
        return done[name]

    return cases, run


CASE_NAMES = list(_cases(Path("w")))


@pytest.mark.parametrize("name", CASE_NAMES)
def test_long_command_ends_with_its_table_one_bar_and_no_library_noise(name: str, outputs, request) -> None:
    cases, run = outputs
    case = cases[name]
    if case.shared:
        request.getfixturevalue("shared_data")  # skips, with the reason, where the shared data is absent
    rc, out, err = run(name)
    assert rc == 0, f"{name} failed:\n{out[-3000:]}\n{err[-3000:]}"
    assert "┏" in out and all(w in out for w in case.table), f"{name}: no summary table {case.table}:\n{out}"
    lines = [ln for ln in re.split(r"[\r\n]+", out + "\n" + err) if ln.strip()]
    noise = [ln for ln in lines if any(p.search(ln) for p in NOISE)]
    assert not noise, f"{name}: library output in the default mode:\n" + "\n".join(noise[:20])
    bars = {m.group(1).strip() for ln in lines if (m := BAR.match(ln.strip()))}
    assert bars <= ({case.bar} if case.bar else set()), f"{name}: progress bars {bars}, expected {case.bar}"


@pytest.mark.parametrize("name", ["curate extract", "curate dedup", "curate run --workers 2"])
def test_reader_bar_shown_once(name: str, outputs, request) -> None:
    """The curation reader's bar (no delay: it draws at once) shows in the single verbs too, and once when
    tasks run in parallel; ``--json`` hides it."""
    cases, run = outputs
    if cases[name].shared:
        request.getfixturevalue("shared_data")
    err = run(name)[2]
    assert {m.group(1).strip() for ln in re.split(r"[\r\n]+", err) if (m := BAR.match(ln.strip()))} == {"rank 0 read"}


def test_every_long_command_is_in_the_table() -> None:
    """A new verb that does long work gets a row here (the quick ones — ls, show, head, … — are listed as such)."""
    import typer.main

    from huijin.cli import app

    quick = {"catalog init", "catalog ls", "catalog show", "catalog drops", "catalog lineage", "catalog query",
             "catalog gc", "catalog runs", "catalog artifacts", "catalog serve", "catalog head", "catalog diff",
             "catalog snapshot create", "catalog snapshot show", "catalog snapshot ls", "synth endpoints",
             "synth cache", "taxonomy show", "taxonomy coverage", "verify convfinqa", "eval compare",
             "synth label", "demo"}  # synth label needs a teacher (test_hardening_teacher); demo: test_cli_quiet

    def verbs(cmd, path=()):
        subs = getattr(cmd, "commands", None)
        if subs is None:
            return [" ".join(path)]
        return [v for n, c in subs.items() for v in verbs(c, (*path, n))]

    listed = set(verbs(typer.main.get_command(app)))  # `eval` itself is its group's callback, not a leaf
    commands = {n.split(" --")[0] for n in CASE_NAMES}
    assert listed - quick - commands == set()
    assert commands - {"eval"} <= listed
