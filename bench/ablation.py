"""The stage ablation over seeds: `huijin demo` (the same code and settings users run) once per seed, then each
held-out stage metric per stage as mean ± sd across seeds, and whether each of issue 12's claims holds per seed.

    python bench/ablation.py --seeds 0 1 2 [--quick] [--out ablation.json]

Prints JSON on stdout, alone (the demo's progress and step lines go to stderr): {"seeds", "stages", "metrics":
{METRIC: {STAGE: {"mean", "sd", "values"}}}, "claims": {CLAIM: [bool per seed]}, "seconds_per_seed"}.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def claims(t: dict) -> dict[str, bool | None]:
    """Issue 12's acceptance bullets on one seed's stage table (None: a metric or stage is missing)."""
    from training.evaluation.stats import Estimate, disjoint

    m = t["metrics"]

    def est(metric: str, stage: str) -> Estimate | None:
        c = (m.get(metric) or {}).get(stage)
        if not c or c.get("value") is None:
            return None
        return Estimate(c["value"], tuple(c["ci"]), c["n"])

    def lift(metric: str, lo: str, hi: str, points: float, need_disjoint: bool) -> bool | None:
        a, b = est(metric, lo), est(metric, hi)
        if a is None or b is None:
            return None
        return (b.value - a.value >= points) and (not need_disjoint or disjoint(a, b))

    out: dict[str, bool | None] = {}
    bf, bfc, bg, bgc = (est("bpb_finance", "base"), est("bpb_finance", "cpt"), est("bpb_general", "base"),
                        est("bpb_general", "cpt"))
    out["cpt_lowers_finance_bpb_more_than_general"] = (None if None in (bf, bfc, bg, bgc) else
                                                       (bf.value - bfc.value) > max(0.0, bg.value - bgc.value))
    sft = est("numeric_acc", "sft")
    out["sft_numeric_acc_at_least_0.20"] = None if sft is None else sft.value >= 0.20
    out["reasoning_rl_lifts_numeric_acc_5pts_disjoint"] = lift("numeric_acc", "sft", "reasoning_rl", 0.05, True)
    out["agentic_rl_lifts_tool_success_10pts_disjoint"] = lift("tool_success", "reasoning_rl", "agentic_rl", 0.10, True)
    g = lift("general_score", "agentic_rl", "general_rl", 1e-9, False)
    na, ng = est("numeric_acc", "agentic_rl"), est("numeric_acc", "general_rl")
    out["general_rl_lifts_general_score_keeping_numeric_acc"] = (
        None if g is None or na is None or ng is None else g and ng.value >= na.value - 0.02)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--quick", action="store_true", help="the CI-sized demo (smaller gains)")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--verbose", action="store_true", help="show the libraries' own progress bars and logs")
    args = ap.parse_args()
    from huijin import quiet

    quiet.configure(args.verbose)  # as `huijin demo` runs: no "Loading weights" bars between the step lines
    from rich.console import Console

    from catalogs import Store
    from huijin.demo.chain import run_chain
    from huijin.output import stdout_to_stderr
    from training.evaluation.record import stage_table

    tables, secs = {}, {}
    # the stages' step lines go to stderr: stdout carries the JSON alone (`> ablation.json` works)
    with tempfile.TemporaryDirectory() as d, stdout_to_stderr():
        for seed in args.seeds:
            t0 = time.perf_counter()
            st = run_chain(Store.open(Path(d) / f"s{seed}" / "store"), Path(d) / f"s{seed}" / "work", args.quick,
                           Console(stderr=True), seed=seed)
            tables[seed] = stage_table(st.store, run_ids=[r["run_id"] for r in st.runs])
            secs[seed] = round(time.perf_counter() - t0, 1)
    stages = next(iter(tables.values()))["stages"]
    metrics: dict[str, dict[str, dict]] = {}
    for t in tables.values():
        for name, by in t["metrics"].items():
            for stage, cell in by.items():
                metrics.setdefault(name, {}).setdefault(stage, {"values": []})["values"].append(cell["value"])
    for by in metrics.values():
        for cell in by.values():
            vals = [v for v in cell["values"] if v is not None]
            cell["mean"] = round(statistics.fmean(vals), 4) if vals else None
            cell["sd"] = round(statistics.stdev(vals), 4) if len(vals) > 1 else 0.0
    per_seed = {seed: claims(t) for seed, t in tables.items()}
    names = list(next(iter(per_seed.values())))
    res = {"seeds": args.seeds, "quick": args.quick, "stages": stages, "metrics": metrics,
           "claims": {c: [per_seed[s][c] for s in args.seeds] for c in names}, "seconds_per_seed": secs,
           "tables": {str(k): v for k, v in tables.items()}}
    text = json.dumps(res, indent=2)
    if args.out:
        args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
