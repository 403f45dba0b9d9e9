"""`huijin eval --model PATH --suite NAME` and `huijin eval compare RUN...`: wiring only (work in training/evaluation)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from .apps import evaluate
from .common import JsonOpt, StoreOpt, fail, open_store, print_json, print_table


@evaluate.callback()
def eval_main(
    ctx: typer.Context,
    model: str | None = typer.Option(None, "--model", help="HF model folder to evaluate"),
    suite: str = typer.Option("fin_dev", "--suite", help="suite name in recipes/eval/ or a YAML path"),
    limit: int | None = typer.Option(None, "--limit", help="at most N items per task"),
    tasks: str | None = typer.Option(None, "--tasks", help="comma-separated subset of the suite's tasks"),
    run: str | None = typer.Option(None, "--run", help="store the scores in this run's metrics"),
    as_input: bool = typer.Option(False, "--input-model", help="with --run: store as the run's input-model (base) scores"),
    out: Path | None = typer.Option(None, "--output", "-o", help="write per-item results (JSONL)"),
    backend: str = typer.Option("local", "--backend", help="local (HF generate) or server (OpenAI-compatible "
                                "completions server, e.g. vLLM/SGLang; the tokenizer comes from --model)"),
    server_url: str | None = typer.Option(None, "--server-url", help="with --backend server: http://host:port"),
    store: str | None = StoreOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Evaluate a model on a suite (per task, per taxonomy leaf, per language)."""
    if ctx.invoked_subcommand is not None:
        return
    if not model:
        fail("--model is required (or use `huijin eval compare RUN...`)")
    if not Path(model).is_dir():
        fail(f"--model {model}: not a model folder")
    if backend not in ("local", "server") or (backend == "server") != bool(server_url):
        fail("--backend is local or server, and --server-url goes with --backend server", code=2)
    from training.engine import setup_env

    setup_env()
    from training.evaluation import SuiteError, evaluate_model, load_suite, store_scores

    if run:  # checked before the model is loaded and evaluated
        try:
            open_store(store, create=False).runs.get(run)
        except KeyError as e:
            fail(str(e.args[0]))
    try:
        rep = evaluate_model(model, load_suite(suite), limit, [t.strip() for t in tasks.split(",")] if tasks else None,
                             progress=not as_json, server_url=server_url)
    except SuiteError as e:
        fail(str(e))
    except RuntimeError as e:  # training.generation.BackendError: the server is down or answered nonsense
        fail(str(e))
    summary = rep.summary()
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in rep.rows()),
                       encoding="utf-8")
    if run:
        try:
            store_scores(open_store(store, create=False), run, summary, "eval_input" if as_input else "eval")
        except KeyError as e:
            fail(str(e).strip("'\""))
    if as_json:
        print_json(summary)
        return
    rows = [{"task": k, "n": v["n"], "scored": v["scored"], "accuracy": v["accuracy"]} for k, v in summary["tasks"].items()]
    rows.append({"task": "overall (macro)", "n": summary["n"], "scored": summary["n"] - summary["unscorable"],
                 "accuracy": summary["overall"]})
    print_table(rows, title=f"{summary['suite']} · {model}")
    print_table([{"taxonomy leaf": k, **v} for k, v in summary["taxonomy"].items()], title="by taxonomy leaf")
    print_table([{"lang": k, **v} for k, v in summary["lang"].items()], title="by language")


@evaluate.command("compare")
def compare(
    runs: list[str] = typer.Argument(None, help="run ids (any order: columns follow the stage order)"),
    snapshot: str | None = typer.Option(None, "--snapshot", help="all runs of this snapshot instead of RUN..."),
    suite: str | None = typer.Option(None, "--suite", help="which stored suite (default: the first found)"),
    detail: bool = typer.Option(True, "--detail/--no-detail", help="rows per taxonomy leaf and language too"),
    run_eval: bool = typer.Option(False, "--evaluate", help="first evaluate every run's output model (and the first "
                                  "run's input model) on --suite and store the scores"),
    limit: int | None = typer.Option(None, "--limit", help="with --evaluate: at most N items per task"),
    store: str | None = StoreOpt,
    as_json: bool = JsonOpt,
) -> None:
    """The stage ablation table: base → CPT → SFT → reasoning RL → agentic RL → general RL."""
    from training.evaluation import SuiteError, ablation, evaluate_runs

    s = open_store(store, create=False)
    if not run_eval and _show_stage_metrics(s, snapshot, list(runs or []), as_json):
        return
    ids = list(runs or [])
    if snapshot:  # completed runs only; without --evaluate, those with stored scores (no empty columns)
        listed = [r["run_id"] for r in s.runs.ls(snapshot) if r["status"] == "completed"]
        if not run_eval:
            listed = [r for r in listed if (s.runs.get(r).get("metrics") or {}).get("eval")] or listed
        ids += [r for r in listed if r not in ids]
    if not ids:
        fail("give run ids or --snapshot")
    if run_eval:
        from training.engine import setup_env

        setup_env()
        try:
            evaluate_runs(s, ids, suite or "fin_dev", limit, progress=not as_json)
        except (SuiteError, ValueError) as e:
            fail(str(e))
    try:
        table = ablation(s, ids, suite, detail)
    except (KeyError, ValueError) as e:
        fail(str(e).strip("'\""))
    if as_json:
        print_json(table)
        return
    print_table(table["rows"], table["columns"], title=f"stage ablation · suite {table['suite']}")


def _show_stage_metrics(s, snapshot: str | None, runs: list[str], as_json: bool) -> bool:
    """The held-out stage metrics with their 95% intervals, when the runs stored them; False when none did."""
    from training.evaluation.record import stage_rows, stage_table

    try:
        table = stage_table(s, snapshot, runs or None)
    except (KeyError, ValueError):
        return False
    if as_json:
        print_json({k: table[k] for k in ("snapshot", "stages", "metrics")})
        return True

    rows = stage_rows(table)
    print_table(rows, ["metric", *table["stages"]], title=f"stage metrics · {table['snapshot']} · value [95% CI]")
    return True
