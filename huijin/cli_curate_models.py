"""`huijin curate train-classifier | classify | decontaminate | mix`: wiring only; the work lives in
curation.classify, curation.decontam and curation.mixture."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from .apps import curate
from .common import (
    JsonOpt,
    StoreOpt,
    console,
    err_console,
    fail,
    one_line_errors,
    open_store,
    print_json,
    print_table,
)


def _pairs(values: list[str], opt: str, cast=str) -> dict:
    out = {}
    for v in values:
        k, sep, val = v.partition("=")
        if not sep or not k:
            fail(f"{opt} {v!r}: expected KEY=VALUE")
        try:
            out[k] = cast(val)
        except ValueError:
            fail(f"{opt} {v!r}: {val!r} is not a valid value")
    return out


def _progress(it, desc: str):
    from .cli_catalog import progress_bar

    return progress_bar(desc, it)


def _step(msg: str) -> None:
    """A phase of a long command, one line on stderr (rich's log() would add the time and this file's line)."""
    err_console.print(msg, highlight=False, markup=False)


def _is_file(spec: str) -> bool:
    from curation.classify.records import parse_source

    return parse_source(spec).is_file


def _one_input(inputs: list[str], verb: str) -> str:
    """-i/--input is repeatable in every verb; these read one input per run (comma-separated too)."""
    items = [v for item in inputs for v in item.split(",") if v]
    if len(items) != 1:
        fail(f"{verb} reads one input per run (got {len(items)}: {', '.join(items)}); run it once per input", code=2)
    return items[0]


@curate.command("train-classifier")
@one_line_errors
def train_classifier_cmd(
    name: str = typer.Option(..., "--name", help="classifier name (= score name and artifact name)"),
    positive: list[str] = typer.Option(..., "--positive", help="catalog ref or JSONL/Parquet file, optionally "
                                       "SRC#field=value (repeatable)"),
    negative: list[str] = typer.Option(..., "--negative", help="same as --positive, for the negative class"),
    test_split: float = typer.Option(0.1, "--test-split", help="held-out share, split by document group"),
    out: Path = typer.Option(None, "--output", "-o", help="model folder (default ./classifiers/NAME)"),
    text_field: str = typer.Option(None, "--text-field", help="text field of input files, if not 'text'"),
    epoch: int = typer.Option(10, "--epoch", help="fastText training epochs"),
    dim: int = typer.Option(32, "--dim", help="fastText vector size"),
    chunk_chars: int = typer.Option(1000, "--chunk-chars", help="training/eval unit size in characters"),
    min_chars: int = typer.Option(80, "--min-chars", help="shorter chunks are not used (counted)"),
    length_token: bool = typer.Option(False, "--length-token", help="let the model see document length "
                                      "(quality labels depend on it)"),
    seed: int = typer.Option(0, "--seed", help="random seed (split and training)"),
    quantize: bool = typer.Option(True, "--quantize/--no-quantize", help="quantised .ftz (~2 MB, fast)"),
    register: bool = typer.Option(True, "--register/--no-register", help="register the model as an artifact"),
    store: str = StoreOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Train a fastText classifier, report held-out quality per language, register it as an artifact."""
    from curation.classify import TrainConfig, train_classifier

    if not 0 < test_split < 1:
        fail(f"--test-split {test_split}: the held-out share must be between 0 and 1")
    cfg = TrainConfig(test_split=test_split, epoch=epoch, dim=dim, chunk_chars=chunk_chars, seed=seed,
                      min_chars=min_chars, length_token=length_token, quantize=quantize)
    s = open_store(store)
    res = train_classifier(name, positive, negative, out or Path("classifiers") / name, cfg=cfg, store=s,
                           register=register, text_field=text_field, log=_step)
    if as_json:
        print_json({"model": str(res.model_dir), "artifact": res.artifact_ref, "data": res.data_refs, **res.report})
        return
    rows = [{"lang": lang, **{k: r[k] for k in ("n", "positives", "precision", "recall", "f1", "roc_auc")},
             "tp/fp/fn/tn": "/".join(str(r["confusion"][k]) for k in ("tp", "fp", "fn", "tn")),
             "best_threshold": res.report["thresholds"].get(lang)}
            for lang, r in [*res.report["per_language"].items(), ("all", res.report["overall"])]]
    print_table(rows, title=f"{name}: held-out evaluation ({res.report['data']['test_examples']} chunks)")
    console.print(f"model: {res.model_dir / 'model.ftz'} ({res.report['model_bytes']:,} bytes)  "
                  f"artifact: {res.artifact_ref or '-'}  trained on: {', '.join(res.data_refs) or '-'}")


@curate.command("classify")
@one_line_errors
def classify_cmd(
    model: str = typer.Option(..., "--model", help="model.ftz, its folder, or an artifact ref (fin-domain@1)"),
    inputs: list[str] = typer.Option(..., "--input", "-i", help="JSONL/Parquet file or catalog ref (doc/sft/rl); "
                                     "one per run"),
    output: Path = typer.Option(None, "--output", "-o", help="output JSONL: every record with scores.{name} added"),
    version: str = typer.Option(None, "--name", help="also/instead write a version of this name"),
    name: str = typer.Option(None, "--score-name", help="score name (default: the classifier's name)"),
    threshold: list[str] = typer.Option([], "--threshold", help="LANG=MIN: drop records below (repeatable)"),
    default_threshold: float = typer.Option(None, "--default-threshold", help="threshold for other languages"),
    store: str = StoreOpt,
) -> None:
    """Score records with a classifier (probability of the positive class)."""
    from curation.classify.records import write_jsonl
    from curation.classify.versions import classify_source, write_scored_version

    input_ = _one_input(inputs, "classify")
    if output is None and version is None:
        fail("give --output OUT.jsonl and/or --name NAME")
    s = None if _is_file(input_) and not version and Path(model).exists() else open_store(store)
    clf, rows, counts = classify_source(model, input_, s, thresholds=_pairs(threshold, "--threshold", float),
                                        default_threshold=default_threshold, score_name=name,
                                        wrap=lambda it: _progress(it, "classify"))
    if output:
        write_jsonl(output, rows)
    ref = None
    if version:
        ref = write_scored_version(s, version, input_, model, clf, rows, counts, threshold, default_threshold,
                                   {"input": input_}).ref
    scores = [r["scores"][clf.name] for r in rows]
    print_table([{"input": counts["input"], "kept": counts["kept"], "dropped": counts["dropped_below_threshold"],
                  "mean score (kept)": sum(scores) / len(scores) if scores else None, "output": str(output or ""),
                  "version": ref or ""}], title=f"classify with {clf.name}")


@curate.command("decontaminate")
@one_line_errors
def decontaminate_cmd(
    benchmark: list[str] = typer.Option(..., "--benchmark", help="NAME=PATH (FinQA/ConvFinQA/TAT-QA JSON, MC "
                                        "CSV/JSONL or folder, JSONL with text); repeatable"),
    inputs: list[str] = typer.Option(..., "--input", "-i", help="JSONL/Parquet file or catalog ref (doc/sft/rl); "
                                     "one per run"),
    output: Path = typer.Option(None, "--output", "-o", help="output JSONL (kept records)"),
    report: Path = typer.Option(..., "--report", help="report JSON: flagged records, matched items, counts"),
    version: str = typer.Option(None, "--name", help="also/instead write a version of this name (same kind as "
                                "the input)"),
    mode: str = typer.Option("remove", "--mode", help="remove | flag (keep, add 'contamination')"),
    n_en: int = typer.Option(8, "--n-en", help="word n-gram size for English"),
    n_zh: int = typer.Option(12, "--n-zh", help="character n-gram size for Chinese"),
    parts: str = typer.Option("question,context", "--parts", help="which item parts to index"),
    store: str = StoreOpt,
) -> None:
    """Remove or flag records that contain benchmark test items."""
    from curation.classify.records import write_jsonl
    from curation.decontam import (
        DecontConfig,
        build_index,
        decontaminate_source,
        write_decontaminated_version,
    )

    input_ = _one_input(inputs, "decontaminate")
    if output is None and version is None:
        fail("give --output OUT.jsonl and/or --name NAME")
    if mode not in ("remove", "flag"):
        fail(f"--mode {mode!r}: expected remove or flag")
    cfg = DecontConfig(n_en=n_en, n_zh=n_zh, parts=tuple(p.strip() for p in parts.split(",") if p.strip()))
    index = build_index(_pairs(benchmark, "--benchmark"), cfg)
    s = None if _is_file(input_) and not version else open_store(store)
    rows, rep = decontaminate_source(index, input_, s, mode, wrap=lambda it: _progress(it, "decontaminate"))
    if output:
        write_jsonl(output, rows)
    ref = None
    if version:
        ref = write_decontaminated_version(s, version, input_, rows, rep,
                                           {"benchmarks": benchmark, "input": input_}).ref
    doc = rep.to_dict()
    doc["version"] = ref
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")
    print_table([{"benchmark": b, **v} for b, v in doc["benchmarks"].items()], title="benchmarks")
    print_table([{**doc["counts"], "report": str(report), "version": ref or ""}], title=f"decontaminate ({mode})")


@curate.command("mix")
@one_line_errors
def mix_cmd(
    recipe: Path = typer.Argument(..., help="mixture recipe YAML, or a name in recipes/mixture/ (cpt_default)"),
    name: str = typer.Option(..., "--name", help="name of the mixture version"),
    source: list[str] = typer.Option([], "--source", help="SOURCE=REF: override a source's ref (repeatable)"),
    share: list[str] = typer.Option([], "--share", help="SOURCE=SHARE: override a share (repeatable)"),
    total_tokens: int = typer.Option(None, "--total-tokens", help="token budget (default: the recipe's)"),
    tokenizer: str = typer.Option(None, "--tokenizer", help="tokenizer.json / HF folder (default: recipe's or "
                                  "estimate)"),
    seed: int = typer.Option(None, "--seed", help="shuffle seed (default: the recipe's)"),
    report: Path = typer.Option(None, "--report", help="also write the report JSON here"),
    store: str = StoreOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Build a CPT mixture version: target token shares, epoch caps, deterministic shuffle."""
    from curation.mixture import build_mixture, load_recipe

    r = load_recipe(recipe, sources=_pairs(source, "--source"), shares=_pairs(share, "--share", float),
                    total_tokens=total_tokens, tokenizer=tokenizer, seed=seed)
    s = open_store(store)
    m, rep = build_mixture(s, r, name, progress=_step, recipe_path=str(recipe))
    if report:
        report.write_text(json.dumps(rep, ensure_ascii=False, indent=1), encoding="utf-8")
    if as_json:
        print_json({"version": m.ref, **rep})
        return
    short = {"source": "source", "ref": "ref", "docs": "docs", "available_tokens": "avail tok",
             "target_share": "target", "achieved_share": "achieved", "target_tokens": "target tok",
             "achieved_tokens": "achieved tok", "epochs": "epochs", "max_epochs": "cap", "capped": "capped",
             "upsampled_copies": "copies"}  # short headers: the table fits an 80-column terminal
    rows = [{short[k]: r.get(k) for k in short} for r in rep["sources"]]
    print_table(rows, list(short.values()), title=f"{m.ref}: {rep['documents']:,} docs, {rep['achieved_tokens']:,} tokens "
                f"({rep['token_count']})")
