"""Branching stage plans: a snapshot pins a stage graph, ``huijin train run --branch`` trains one branch or all.

The graph lives in the snapshot's options (so it is part of the snapshot's content hash)::

    graph:
      nodes:
        cpt: {}
        sft: {after: cpt}
        dpo: {after: sft}
        long_cot_sft: {stage: sft, after: cpt, config: {reasoning: true}}
        reasoning_rl: {after: long_cot_sft}
      branches: {chat: dpo, reasoning: reasoning_rl}     # optional names for the leaves

A node is a training stage (``stage``, default the node's name, a registered stage) with its own data (the
snapshot's ``stages[<node>]`` entry), its own settings on top of the stage's (``config``) and its parent
(``after``: the node whose exported model it starts from; none for the root). A branch is the path from the
root to a leaf. Training several branches trains each shared node once: both branches above start from the
same CPT checkpoint. Every node is one stage run (``training.launch.run_stages``) whose record's ``stage`` is
the node's name, so ``eval compare`` shows every node of both branches as its own column.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .plan import PlanError

GRAPH_KEY = "graph"


@dataclass
class Node:
    name: str
    stage: str
    after: str | None = None
    config: dict[str, Any] = field(default_factory=dict)


def graph_of(snap: dict[str, Any]) -> dict[str, Node] | None:
    """The snapshot's nodes (checked), or None for a snapshot without a graph."""
    raw = (snap.get("options") or {}).get(GRAPH_KEY)
    if raw is None:
        return None
    return check_graph(raw, snap)


def check_graph(raw: Any, snap: dict[str, Any]) -> dict[str, Node]:
    """Validate a graph against the snapshot's data: known stage types, parents that exist, no cycle, data pinned
    for every node. The message names the snapshot and the node."""
    from .stages import STAGES

    where = f"snapshot '{snap.get('name')}' graph"
    nodes_raw = raw.get("nodes") if isinstance(raw, dict) else None
    if not isinstance(nodes_raw, dict) or not nodes_raw:
        raise PlanError(f"{where}: needs 'nodes', a mapping of node name → {{stage, after, config}}")
    nodes = {}
    for name, spec in nodes_raw.items():
        spec = spec or {}
        if not isinstance(spec, dict) or set(spec) - {"stage", "after", "config"}:
            raise PlanError(f"{where}: node {name!r} takes only stage, after and config, got {spec!r}")
        stage = str(spec.get("stage") or name)
        if stage not in STAGES:
            raise PlanError(f"{where}: node {name!r} is stage {stage!r}, not one of {', '.join(sorted(STAGES))}")
        if not isinstance(spec.get("config") or {}, dict):
            raise PlanError(f"{where}: node {name!r}: config must be a mapping")
        if not snap.get("stages", {}).get(name):
            raise PlanError(f"{where}: node {name!r} has no data pinned (add --stage {name}=REF to the snapshot)")
        nodes[name] = Node(name, stage, spec.get("after"), dict(spec.get("config") or {}))
    for n in nodes.values():
        if n.after is not None and n.after not in nodes:
            raise PlanError(f"{where}: node {n.name!r} comes after {n.after!r}, which is not a node")
        seen, cur = {n.name}, n.after
        while cur is not None:
            if cur in seen:
                raise PlanError(f"{where}: node {n.name!r} is on a cycle")
            seen.add(cur)
            cur = nodes[cur].after
    return nodes


def branches(snap: dict[str, Any]) -> dict[str, list[str]]:
    """Branch name → node path from the root to its leaf (leaves named by ``graph.branches``, else by name)."""
    nodes = graph_of(snap)
    if nodes is None:
        raise PlanError(f"snapshot '{snap.get('name')}' pins no stage graph (options.graph); use --stages")
    parents = {n.after for n in nodes.values()}
    leaves = [n for n in nodes if n not in parents]
    names = {leaf: leaf for leaf in leaves}
    for bname, leaf in ((snap["options"][GRAPH_KEY].get("branches")) or {}).items():
        if leaf not in names:
            raise PlanError(f"snapshot '{snap.get('name')}' graph: branch {bname!r} names {leaf!r}, not a leaf "
                            f"(leaves: {', '.join(leaves)})")
        names[leaf] = str(bname)
    out = {}
    for leaf in leaves:
        path, cur = [], leaf
        while cur is not None:
            path.append(cur)
            cur = nodes[cur].after
        out[names[leaf]] = path[::-1]
    return out


def stage_type(snap: dict[str, Any], node: str) -> str:
    """The registered stage a snapshot stage name trains: its graph node's ``stage``, else the name itself."""
    nodes = graph_of(snap)
    return nodes[node].stage if nodes and node in nodes else node


def node_config(snap: dict[str, Any], node: str, model: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The stage settings of a node: the stage type's (recipe ← tiny ← snapshot options ← overrides), then the
    node's own ``config``, then per-node overrides (``--set long_cot_sft.lr=…``)."""
    from .stages import stage_config

    opts = {k: v for k, v in (snap.get("options") or {}).items() if k != GRAPH_KEY}
    kind = stage_type(snap, node)
    cfg = stage_config(kind, model, overrides, opts)
    nodes = graph_of(snap)
    if nodes and node in nodes:
        cfg.update(nodes[node].config)
        if node != kind:
            cfg.update((overrides or {}).get(node) or {})
        order = [n for path in branches(snap).values() for n in path]
        cfg["graph_node"] = {"node": node, "stage": kind, "after": nodes[node].after,
                             "order": order.index(node)}  # eval compare orders columns by it
    return cfg


def select_branches(snap: dict[str, Any], branch: str) -> dict[str, list[str]]:
    """``all`` → every branch; a branch name or a leaf node → that branch."""
    allb = branches(snap)
    if branch == "all":
        return allb
    for bname, path in allb.items():
        if branch in (bname, path[-1]):
            return {bname: path}
    raise PlanError(f"snapshot '{snap['name']}': no branch {branch!r}; branches: "
                    + ", ".join(f"{b} ({' → '.join(p)})" for b, p in allb.items()) + ", or all")


def run_branches(store, snapshot: str, branch: str = "all", model: str = "tiny", output: str | Path = "runs-out",
                 config: dict[str, Any] | None = None, **launch: Any) -> list[dict[str, Any]]:
    """Train the chosen branches of the snapshot's graph: each node once, in branch order, every node starting
    from its parent's exported model. Returns the run records (one per node trained)."""
    from .launch import run_stages, verify_snapshot
    from .stages import check_config

    snap = store.snapshots.get(snapshot)
    chosen = select_branches(snap, branch)
    todo = list(dict.fromkeys(n for path in chosen.values() for n in path))
    verified = verify_snapshot(store, snap, todo)  # every node's data and settings, before the first one trains
    for n in todo:
        check_config(stage_type(snap, n), node_config(snap, n, model, config))
    done: dict[str, str] = {}  # node → its exported model
    records = []
    for path in chosen.values():
        i = 0
        while i < len(path) and path[i] in done:
            i += 1
        if i == len(path):
            continue
        recs = run_stages(store, snapshot, path[i:], model=model, output=output, config=config,
                          start_model=done[path[i - 1]] if i else None, verified=verified, **launch)
        for n, r in zip(path[i:], recs, strict=True):
            done[n] = r["output_model"]
            records.append(r)
    return records
