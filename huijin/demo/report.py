"""What `huijin demo` prints at the end: versions, drop funnel, runs, the stage ablation table, and the
lineage from raw input to the final checkpoint."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.tree import Tree

from catalogs.raw_inputs import raw_inputs

from ..common import print_table
from .chain import DemoState


def drop_funnel(s: DemoState, ref: str) -> list[dict[str, Any]]:
    m = s.store.resolve(ref)
    rows = [{"version": m.ref, "step:reason": k, "documents": v} for k, v in sorted(m.drops.items(), key=lambda kv: -kv[1])]
    rows += [{"version": m.ref, "step:reason": f"quarantined:{k}", "documents": v} for k, v in m.quarantined.items()]
    rows.append({"version": m.ref, "step:reason": f"= kept (of {m.inputs} in)", "documents": m.rows})
    return rows


def lineage_tree(s: DemoState, model_path: str) -> Tree:
    """checkpoint ← runs ← snapshot ← versions ← … ← raw files."""
    tree = Tree(f"[bold]{model_path}[/]")
    by_output = {r["output_model"]: r for r in s.runs}
    run = by_output.get(model_path)
    node = tree
    seen: set[str] = set()
    while run is not None:
        rnode = node.add(f"run [cyan]{run['run_id']}[/] ({run['stage']}, snapshot {run['snapshot']})")
        for e in s.store.snapshots.get(run["snapshot"])["stages"].get(run["stage"], []):
            _add_version(s, rnode, f"{e['dataset']}@{e['version']}", seen, weight=e["weight"])
        run = by_output.get(run.get("input_model"))
        node = rnode
    return tree


def _add_version(s: DemoState, parent: Tree, ref: str, seen: set[str], weight: float | None = None) -> None:
    m = s.store.resolve(ref)
    label = f"{m.ref} [dim]{m.kind}, {m.rows} rows[/]" + (f" ×{weight}" if weight is not None else "")
    if ref in seen:
        parent.add(label + " [dim](above)[/]")
        return
    seen.add(ref)
    node = parent.add(label)
    for p in m.parents:
        _add_version(s, node, f"{p['name']}@{p['version']}", seen)
    for f in raw_inputs(m):  # files and folders; catalog refs are the parents above
        node.add(f"[green]raw[/] {f}")


def print_report(s: DemoState, console: Console) -> None:
    from training.evaluation.record import ablation, stage_rows, stage_table

    console.rule("[bold]versions")
    print_table(s.store.ls(), ["name", "version", "kind", "rows", "tokens", "dropped", "quarantined", "hash"])
    console.rule("[bold]drop funnel")
    print_table(drop_funnel(s, s.refs["web"]) + drop_funnel(s, s.refs["web_fin"]), ["version", "step:reason", "documents"])
    if s.runs:
        console.rule("[bold]runs")
        print_table([{"stage": r["stage"], "run": r["run_id"], "status": r["status"],
                      "loss": (r["metrics"] or {}).get("final_loss"), "reward": (r["metrics"] or {}).get("reward_mean"),
                      "model": r["output_model"]} for r in s.runs])
        console.rule("[bold]stage ablation")
        ids = [r["run_id"] for r in s.runs]
        if any((r.get("metrics") or {}).get("stage_metrics") for r in s.runs):
            t = stage_table(s.store, run_ids=ids)
            print_table(stage_rows(t), ["metric", *t["stages"]],
                        title="held-out stage metrics · value [95% CI] (bpb: lower is better)")
        ab = ablation(s.store, ids, detail=False)
        print_table(ab["rows"], ab["columns"], title=f"suite {ab['suite']} (accuracy)")
        console.rule("[bold]lineage: raw input → checkpoint")
        console.print(lineage_tree(s, s.runs[-1]["output_model"]))
    for n in s.notes:
        console.print(f"• {n}")
    print_table([{"step": k, "seconds": v} for k, v in s.timings.items()], title="time per step")
