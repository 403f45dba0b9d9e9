"""Exporters of ``rl`` versions to the row layouts RL frameworks read, and a TRL reward function.

* verl: ``data_source``, ``prompt`` (chat messages), ``ability``, ``reward_model`` (``style`` + ``ground_truth``),
  ``extra_info``; the ground truth is our reward spec (JSON), scored by ``verl_compute_score``.
* TRL: conversational ``prompt`` plus the ``reward_spec`` column; ``trl_reward`` receives it as a kwarg.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .score import score

if TYPE_CHECKING:
    from catalogs import Store


def _prompt(messages: list[dict]) -> list[dict[str, str]]:
    return [{"role": m["role"], "content": m.get("content") or ""} for m in messages]


def verl_rows(records: Iterable[dict[str, Any]], data_source: str) -> Iterator[dict[str, Any]]:
    for i, r in enumerate(records):
        tax = r.get("taxonomy") or ""
        yield {
            "data_source": data_source,
            "prompt": _prompt(r["prompt"]),
            "ability": tax.split("/")[0] if tax else "finance",
            "reward_model": {"style": "rule", "ground_truth": r["reward_spec"]},
            "extra_info": {"index": i, "id": r["id"], "taxonomy": tax, "lang": r.get("lang") or "",
                           "difficulty": r.get("difficulty"), "tools": r.get("tools") or "", "env": r.get("env") or ""},
        }


def trl_rows(records: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for r in records:
        yield {"id": r["id"], "prompt": _prompt(r["prompt"]), "reward_spec": r["reward_spec"],
               "taxonomy": r.get("taxonomy") or "", "lang": r.get("lang") or ""}


def export_rl(store: Store, ref: str, out: str | Path, fmt: str = "verl") -> dict[str, Any]:
    """Write an ``rl`` version as a verl or TRL parquet file; returns ``{"rows", "path", "format"}``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    m = store.resolve(ref)
    if m.kind != "rl":
        raise ValueError(f"{m.ref} is a '{m.kind}' version; only rl versions export to RL rows")
    records = store.iter_records(m)
    rows = list(verl_rows(records, m.name) if fmt == "verl" else trl_rows(records) if fmt == "trl" else [])
    if fmt not in ("verl", "trl"):
        raise ValueError(f"unknown export format {fmt!r} (verl | trl)")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), out, compression="zstd")
    return {"rows": len(rows), "path": str(out), "format": fmt, "version": m.ref}


def verl_compute_score(data_source: str, solution_str: str, ground_truth: str, extra_info: Any = None) -> float:
    """verl's ``custom_reward_function`` signature; an unscorable item gives 0.0 (verl needs a float).

    Never raises: ``score`` turns hostile completions into 0 and bad specs into ``None``."""
    r = score(ground_truth, solution_str)
    return 0.0 if r.score is None else r.score


def trl_reward(completions: list[Any], reward_spec: list[str], **_: Any) -> list[float | None]:
    """A TRL ``GRPOTrainer`` reward function: dataset columns arrive as kwargs; ``None`` skips an item.

    Never raises on a completion or a spec (``score`` does not); only mismatched column lengths are an error."""
    if len(reward_spec) != len(completions):
        raise ValueError(f"{len(completions)} completions but {len(reward_spec)} reward specs")
    return [score(spec, c).score for spec, c in zip(reward_spec, completions, strict=True)]


def spec_json(spec: dict[str, Any]) -> str:
    return json.dumps(spec, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
