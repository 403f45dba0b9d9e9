"""Run records: one per training stage launched from a snapshot (data → model lineage)."""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

from .manifest import now_iso, recipe_hash, scrub_secrets, write_json_atomic

if TYPE_CHECKING:
    from .store import Store

STATUSES = {"running", "completed", "failed", "killed"}


class Runs:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.dir = store.root / "runs"

    def start(self, stage: str, snapshot: str | None = None, input_model: str | None = None,
              config: dict[str, Any] | None = None, run_id: str | None = None) -> str:
        """Record a run as ``running``; returns its id. Reusing an id (a resumed run) keeps its history."""
        if snapshot is not None:
            self.store.snapshots.get(snapshot)  # must exist
        run_id = run_id or f"{stage}-{uuid.uuid4().hex[:10]}"
        config = scrub_secrets(config or {})
        rec = self.get(run_id) if (self.dir / f"{run_id}.json").exists() else {
            "run_id": run_id, "metrics": {}, "checkpoints": [], "started_at": now_iso(), "ended_at": None}
        rec.update(stage=stage, snapshot=snapshot, input_model=input_model, config=config,
                   config_hash=recipe_hash(config), status="running")
        self._save(rec)
        return run_id

    def update(self, run_id: str, *, status: str | None = None, metrics: dict[str, Any] | None = None,
               output_model: str | None = None, checkpoint: str | None = None) -> dict[str, Any]:
        rec = self.get(run_id)
        if status is not None:
            if status not in STATUSES:
                raise ValueError(f"run status {status!r} not in {sorted(STATUSES)}")
            rec["status"] = status
            if status != "running":
                rec["ended_at"] = now_iso()
        if metrics:
            rec["metrics"].update(scrub_secrets(metrics))
        if output_model is not None:
            rec["output_model"] = output_model
        if checkpoint is not None and checkpoint not in rec["checkpoints"]:
            rec["checkpoints"].append(checkpoint)
        self._save(rec)
        return rec

    def finish(self, run_id: str, metrics: dict[str, Any] | None = None, output_model: str | None = None,
               status: str = "completed") -> dict[str, Any]:
        return self.update(run_id, status=status, metrics=metrics, output_model=output_model)

    def get(self, run_id: str) -> dict[str, Any]:
        path = self.dir / f"{run_id}.json"
        if not path.exists():
            raise KeyError(f"no run '{run_id}' in store {self.store.root}")
        return json.loads(path.read_text(encoding="utf-8"))

    def ls(self, snapshot: str | None = None) -> list[dict[str, Any]]:
        with self.store.index.read() as con:
            cur = con.execute(
                "SELECT run_id, snapshot, stage, status, input_model, output_model, config_hash, started_at, ended_at, "
                "metrics FROM runs WHERE ? IS NULL OR snapshot = ? ORDER BY started_at, run_id",
                [snapshot, snapshot],
            )
            cols = [c[0] for c in cur.description]
            return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]

    def data_of_model(self, model_path: str) -> list[dict[str, Any]]:
        """Which dataset versions trained this checkpoint: one query over the ``run_inputs`` view."""
        with self.store.index.read() as con:
            cur = con.execute(
                "SELECT run_id, stage, dataset, version, hash, weight FROM run_inputs WHERE output_model = ? "
                "ORDER BY stage, dataset", [model_path])
            cols = [c[0] for c in cur.description]
            return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]

    def _save(self, rec: dict[str, Any]) -> None:
        with self.store.index.write_lock():
            write_json_atomic(self.dir / f"{rec['run_id']}.json", rec)
            with self.store.index.transaction() as con:
                self.store.index.register_run(rec, con)
