"""Evaluation scores in the catalog: stored in a run's metrics under ``eval`` (the run's output model) and
``eval_input`` (its input model: the base column of the ablation table), and compared across stage runs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

STAGE_ORDER = ["cpt", "sft", "reasoning_rl", "agentic_rl", "general_rl"]
METRICS_KEY, METRICS_INPUT_KEY = "stage_metrics", "stage_metrics_input"


def store_scores(store, run_id: str, summary: dict[str, Any], key: str = "eval") -> dict[str, Any]:
    """Merge one suite's summary into ``metrics[key][suite]`` of a run (other suites are kept)."""
    rec = store.runs.get(run_id)
    cur = dict((rec.get("metrics") or {}).get(key) or {})
    cur[summary["suite"]] = summary
    return store.runs.update(run_id, metrics={key: cur})


def evaluate_runs(store, run_ids: list[str], suite: str, limit: int | None = None, base: bool = True,
                  progress: bool = False) -> list[dict[str, Any]]:
    """Evaluate each run's output model (and the first run's input model as the base) and store the scores."""
    from .harness import evaluate_model

    runs = sorted((store.runs.get(r) for r in run_ids), key=_order)
    out = []
    for i, rec in enumerate(runs):
        if i == 0 and base and rec.get("input_model"):
            s = evaluate_model(rec["input_model"], suite, limit, progress=progress).summary()
            store_scores(store, rec["run_id"], s, "eval_input")
        if not rec.get("output_model"):
            raise ValueError(f"run {rec['run_id']} has no output model (status {rec.get('status')})")
        s = evaluate_model(rec["output_model"], suite, limit, progress=progress).summary()
        out.append(store_scores(store, rec["run_id"], s))
    return out


def after_stage(store, rec: dict[str, Any], cfg: dict[str, Any]) -> dict[str, Any]:
    """The trainer's hook after a stage: when the stage config names ``stage_metrics`` and/or ``eval_suite``,
    evaluate its output model (and, for a run without an earlier evaluated stage, its input model) and store
    the scores in the run."""
    if cfg.get("stage_metrics") and rec.get("output_model"):
        rec = record_stage_metrics(store, rec, cfg["stage_metrics"])
    suite = cfg.get("eval_suite")
    if not suite or not rec.get("output_model"):
        return rec
    from .suites import load_suite

    if load_suite(suite).name in ((rec.get("metrics") or {}).get("eval") or {}):
        return rec  # the stage evaluated its own export already (RL stages do)
    earlier = [r for r in store.runs.ls(rec.get("snapshot")) if r["run_id"] != rec["run_id"]
               and r.get("output_model") == rec.get("input_model")]
    return evaluate_runs(store, [rec["run_id"]], suite, cfg.get("eval_limit"), base=not earlier)[0]


def _order(rec: dict[str, Any]) -> tuple[int, str]:
    st = rec.get("stage")
    node = (rec.get("config") or {}).get("graph_node")  # a node of a branching plan: branch by branch
    if node:
        return (node["order"], rec.get("started_at") or "")
    return (STAGE_ORDER.index(st) if st in STAGE_ORDER else len(STAGE_ORDER), rec.get("started_at") or "")


def ablation(store, run_ids: list[str], suite: str | None = None, detail: bool = True) -> dict[str, Any]:
    """The stage-by-stage table: one column per model (base → cpt → sft → reasoning_rl → agentic_rl →
    general_rl), one row per score (overall, each task, each taxonomy leaf, each language)."""
    runs = sorted((store.runs.get(r) for r in run_ids), key=_order)
    if suite is None:
        for r in runs:
            ev = (r.get("metrics") or {}).get("eval") or {}
            if ev:
                suite = sorted(ev)[0]
                break
    if suite is None:
        raise ValueError("none of these runs has evaluation scores (add --evaluate, or run "
                         "`huijin eval --model M --suite S --run ID`)")
    cols: list[tuple[str, dict[str, Any] | None]] = []
    first = (runs[0].get("metrics") or {}).get("eval_input", {}).get(suite) if runs else None
    if first:
        cols.append(("base", first))
    seen: dict[str, int] = {}
    for r in runs:
        name = r["stage"]
        seen[name] = seen.get(name, 0) + 1
        label = name if seen[name] == 1 else f"{name}#{seen[name]}"
        cols.append((label, ((r.get("metrics") or {}).get("eval") or {}).get(suite)))
    keys = [("overall", lambda s: s.get("overall"))]
    names: dict[str, list[str]] = {"tasks": [], "taxonomy": [], "lang": []}
    for _, s in cols:
        for grp in names:
            for k in (s or {}).get(grp, {}):
                if k not in names[grp]:
                    names[grp].append(k)
    for k in names["tasks"]:
        keys.append((f"task:{k}", lambda s, k=k: (s.get("tasks", {}).get(k) or {}).get("accuracy")))
    if detail:
        for grp, prefix in (("taxonomy", "leaf"), ("lang", "lang")):
            for k in names[grp]:
                keys.append((f"{prefix}:{k}", lambda s, k=k, g=grp: (s.get(g, {}).get(k) or {}).get("accuracy")))
    rows = [{"metric": label, **{c: (fn(s) if s else None) for c, s in cols}} for label, fn in keys]
    return {"suite": suite, "columns": ["metric"] + [c for c, _ in cols], "rows": rows,
            "runs": [r["run_id"] for r in runs]}


def record_stage_metrics(store, rec: dict[str, Any], metrics: dict[str, Any], progress: bool = False) -> dict[str, Any]:
    """Held-out stage metrics of a run's output model in ``metrics.stage_metrics``; the input model's go in
    ``metrics.stage_metrics_input`` when no earlier run of the snapshot produced that model (the base column)."""
    from .stage_metrics import evaluate_metrics

    log = print if progress else None
    earlier = [r for r in _full_runs(store, rec.get("snapshot")) if r["run_id"] != rec["run_id"]
               and r.get("output_model") == rec.get("input_model") and (r.get("metrics") or {}).get(METRICS_KEY)]
    if rec.get("input_model") and not earlier and Path(str(rec["input_model"])).is_dir():
        base = evaluate_metrics(rec["input_model"], store, metrics, log=log)
        rec = store.runs.update(rec["run_id"], metrics={METRICS_INPUT_KEY: base})
    scores = evaluate_metrics(rec["output_model"], store, metrics, log=log)
    return store.runs.update(rec["run_id"], metrics={METRICS_KEY: scores})


def stage_table(store, snapshot: str | None = None, run_ids: list[str] | None = None) -> dict[str, Any]:
    """The stage ablation as data: ``{"snapshot", "stages": ["base", "cpt", …], "metrics": {METRIC: {STAGE:
    {"value", "ci", "n"}}}}`` from the runs' stored stage metrics (the latest run of each stage)."""
    if run_ids:
        runs = [store.runs.get(r) for r in run_ids]
    elif snapshot:
        runs = _full_runs(store, snapshot)
    else:
        raise ValueError("name a snapshot or run ids")
    runs = [r for r in runs if (r.get("metrics") or {}).get(METRICS_KEY)]
    if not runs:
        raise ValueError(f"no run of {snapshot or run_ids} has stage metrics (set stage_metrics in the stage "
                         "config: each run then scores its input and output models)")
    latest: dict[str, dict[str, Any]] = {}
    for r in sorted(runs, key=lambda r: r.get("started_at") or ""):
        latest[r["stage"]] = r
    ordered = sorted(latest.values(), key=_order)
    cols: list[tuple[str, dict[str, Any]]] = []
    base = (ordered[0].get("metrics") or {}).get(METRICS_INPUT_KEY)
    if base:
        cols.append(("base", base))
    cols += [(r["stage"], r["metrics"][METRICS_KEY]) for r in ordered]
    names: list[str] = []
    for _, m in cols:
        names += [k for k in m if k not in names]
    table = {}
    for k in names:
        table[k] = {stage: {f: m[k].get(f) for f in ("value", "ci", "n")} for stage, m in cols if k in m}
        for lang, row in _split(cols, k, lambda m: m.get("by_lang") or {}).items():
            table[f"{k}.{lang}"] = row  # per-language rows under the metric: `general_score.zh` (rich eats `[zh]`)
        for bucket, row in _split(cols, k, _buckets).items():  # the `by` field's: `numeric_acc.average`
            name = f"{k}.{bucket}"
            if name in table or name in names:  # a bucket named like a language row or another metric
                name = f"{k}.{_by_field(cols, k)}={bucket}"
            table[name] = row
    return {"snapshot": snapshot or ordered[0].get("snapshot"), "stages": [c for c, _ in cols], "metrics": table,
            "runs": {r["stage"]: r["run_id"] for r in ordered}}


def _split(cols: list[tuple[str, dict[str, Any]]], metric: str,
           part: Callable[[dict[str, Any]], dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """``{part name: {stage: cell}}`` of one metric's sub-results (its languages, or its buckets) across stages."""
    per_stage = [(stage, part(m.get(metric) or {})) for stage, m in cols]
    return {n: {stage: p[n] for stage, p in per_stage if n in p} for n in sorted({n for _, p in per_stage for n in p})}


def _buckets(metric: dict[str, Any]) -> dict[str, Any]:
    return (metric.get("by") or {}).get("buckets") or {}


def _by_field(cols: list[tuple[str, dict[str, Any]]], metric: str) -> str:
    fields = [((m.get(metric) or {}).get("by") or {}).get("field") for _, m in cols]
    return next((f for f in fields if f), "by")


def _full_runs(store, snapshot: str | None) -> list[dict[str, Any]]:
    return [store.runs.get(r["run_id"]) for r in store.runs.ls(snapshot)] if snapshot else []


def stage_rows(table: dict[str, Any]) -> list[dict[str, Any]]:
    """``stage_table`` as printable rows: one per metric, ``value [lo, hi]`` per stage."""
    from .stats import estimate_text

    return [{"metric": f"{m} (n={max((v.get('n') or 0) for v in by.values())})",
             **{st: estimate_text(by.get(st)) for st in table["stages"]}} for m, by in table["metrics"].items()]
