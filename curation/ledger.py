"""Per-rank accounting so that ``inputs = kept + dropped + quarantined`` holds exactly.

One ``Ledger`` object is shared by reference by every step of a pipeline (datatrove deep-copies or pickles
the whole step list per rank, which keeps shared references shared). Readers count inputs and quarantine bad
ones; ``Tap`` steps between the recipe's steps count the documents that got through, so a step's drops are
``tap[before] - tap[after]`` whatever the step is (ours, datatrove's or a plugin). The reason split comes
from each step's own ``dropped_<reason>`` stats (datatrove's ``BaseFilter`` idiom).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep


@dataclass
class RankAccount:
    inputs: int = 0
    quarantine: list[dict[str, Any]] = field(default_factory=list)
    taps: Counter = field(default_factory=Counter)
    step_quarantined: Counter = field(default_factory=Counter)  # tap index -> docs quarantined by that step
    reader_drops: Counter = field(default_factory=Counter)  # inputs the reader itself drops (non-HTML records)


class Ledger:
    """Accounts keyed by rank (ranks may run one after the other in the same process)."""

    def __init__(self) -> None:
        self.ranks: dict[int, RankAccount] = {}

    def of(self, rank: int) -> RankAccount:
        return self.ranks.setdefault(rank, RankAccount())

    def quarantine(self, rank: int, reason: str, file: str = "", offset: int | None = None, record: Any = None,
                   step_index: int | None = None) -> None:
        acc = self.of(rank)
        acc.quarantine.append({"reason": reason, "file": file, "offset": offset, "record": record})
        if step_index is not None:
            acc.step_quarantined[step_index] += 1


class Tap(PipelineStep):
    """Counts the documents flowing past this point of the pipeline (pass-through)."""

    name = "🧮 tap"
    type = "🔢 - COUNT"

    def __init__(self, ledger: Ledger, index: int) -> None:
        super().__init__()
        self.ledger, self.index = ledger, index

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        taps = self.ledger.of(rank).taps
        for doc in data:
            taps[self.index] += 1
            yield doc


def stat_totals(step: Any) -> dict[str, float]:
    stats = getattr(getattr(step, "stats", None), "stats", None)  # datatrove Stats → MetricStatsDict
    if stats is None:
        return {}
    return {k: v.total for k, v in stats.items()}


def drops_by_reason(steps: list[tuple[str, Any]], acc: RankAccount, before: list[dict[str, float]],
                    first_tap: int = 0) -> Counter:
    """Drops of each step as ``label:reason`` counts; ``steps[i]`` sits between taps ``first_tap+i`` and
    ``first_tap+i+1``. Reasons come from stats deltas; whatever they do not explain is ``label:other``."""
    out: Counter = Counter()
    for i, (label, step) in enumerate(steps):
        t_in, t_out = acc.taps[first_tap + i], acc.taps[first_tap + i + 1]
        total = t_in - t_out - acc.step_quarantined[first_tap + i + 1]
        if total <= 0:
            continue
        after = stat_totals(step)
        left = total
        for key in sorted(after):
            if key.startswith("dropped_") and left > 0:
                n = int(after[key] - before[i].get(key, 0))
                n = min(n, left)
                if n > 0:
                    out[f"{label}:{key.removeprefix('dropped_')}"] += n
                    left -= n
        if left > 0:
            out[f"{label}:other"] += left
    return out


class LedgerDump(PipelineStep):
    """Pass-through: when its input ends, writes this rank's inputs, reader drops and quarantine to
    ``folder/RRRRR.json`` (for drivers that need counts from executor-side copies of the ledger)."""

    name = "🧮 ledger dump"
    type = "🔢 - COUNT"

    def __init__(self, ledger: Ledger, folder: str) -> None:
        super().__init__()
        self.ledger, self.folder = ledger, str(folder)

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        import json
        from pathlib import Path

        yield from data
        acc = self.ledger.of(rank)
        Path(self.folder).mkdir(parents=True, exist_ok=True)
        Path(self.folder, f"{rank:05d}.json").write_text(json.dumps(
            {"inputs": acc.inputs, "reader_drops": dict(acc.reader_drops), "quarantine": acc.quarantine}, default=str))
