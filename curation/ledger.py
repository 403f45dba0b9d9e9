"""Per-rank accounting so that ``inputs = kept + dropped + quarantined`` holds exactly.

One ``Ledger`` object is shared by reference by every step of a pipeline (datatrove deep-copies or pickles
the whole step list per rank, which keeps shared references shared). Readers count inputs and quarantine bad
ones; ``Tap`` steps between the recipe's steps count the documents that got through, so a step's drops are
``tap[before] - tap[after]`` whatever the step is (ours, datatrove's or a plugin). The reason split comes
from each step's own ``dropped_<reason>`` stats (datatrove's ``BaseFilter`` idiom).

Dropped-sample tracer (issue 14): a Tap that feeds a step remembers the documents it passed on; the Tap after
that step sees which of them came out, and the ones that did not were dropped by it. Up to ``samples``
(default 20) per ``step:reason`` and rank are kept (text cut to ``SAMPLE_CHARS``, with file and offset); the
reason is ``doc.metadata["filter_reason"]`` (datatrove's filters set it when they have an exclusion writer:
``trace_reasons`` gives each one a writer that only lets it do that; our own steps set it), else ``other``.
``sink.VersionPartWriter`` writes them into the version (``excluded/``, see ``tracer.py``).
"""

from __future__ import annotations

from collections import Counter, deque
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
    pending: dict[int, deque] = field(default_factory=dict)  # tap index -> documents passed on, not yet seen after
    samples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # "step:reason" -> dropped examples


SAMPLE_CHARS = 4096
SAMPLES = 20
PENDING_MAX = 10_000  # documents a step may hold back (batching) before the tracer gives up on it


class Ledger:
    """Accounts keyed by rank (ranks may run one after the other in the same process). ``samples``: dropped
    documents kept per ``step:reason`` and rank (0: none)."""

    def __init__(self, samples: int = SAMPLES) -> None:
        self.ranks: dict[int, RankAccount] = {}
        self.samples = samples

    def of(self, rank: int) -> RankAccount:
        return self.ranks.setdefault(rank, RankAccount())

    def quarantine(self, rank: int, reason: str, file: str = "", offset: int | None = None, record: Any = None,
                   step_index: int | None = None) -> None:
        acc = self.of(rank)
        acc.quarantine.append({"reason": reason, "file": file, "offset": offset, "record": record})
        if step_index is not None:
            acc.step_quarantined[step_index] += 1


    def keep_sample(self, rank: int, step: str, doc: Any) -> None:
        md = doc.metadata
        if md.get("_quarantined"):
            return
        key = f"{step}:{md.get('filter_reason') or 'other'}"
        kept = self.of(rank).samples.setdefault(key, [])
        if len(kept) < self.samples:
            offset = md.get("offset")
            kept.append({"key": key, "step": step, "reason": key.partition(":")[2], "file": str(md.get("source") or ""),
                         "offset": offset if isinstance(offset, int) else None, "id": str(doc.id),
                         "chars": len(doc.text or ""), "text": (doc.text or "")[:SAMPLE_CHARS]})


class Tap(PipelineStep):
    """Counts the documents flowing past this point of the pipeline (pass-through). ``label``: the step
    before this tap, whose dropped documents it samples; ``feeds``: a step and a tap follow this one."""

    name = "🧮 tap"
    type = "🔢 - COUNT"

    def __init__(self, ledger: Ledger, index: int, label: str | None = None, feeds: bool = False) -> None:
        super().__init__()
        self.ledger, self.index, self.label, self.feeds = ledger, index, label, feeds

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        acc = self.ledger.of(rank)
        taps = acc.taps
        trace = self.ledger.samples > 0
        before = acc.pending.setdefault(self.index - 1, deque()) if trace and self.label else None
        mine = acc.pending.setdefault(self.index, deque()) if trace and self.feeds else None
        for doc in data:
            taps[self.index] += 1
            if before is not None:
                at = next((i for i, d in enumerate(before) if d is doc), None)
                if at is None:  # a step that copies documents keeps their id
                    at = next((i for i, d in enumerate(before) if d.id == doc.id), None)
                if at is not None:
                    for _ in range(at):  # what the step took in before this document and did not pass on: dropped
                        self.ledger.keep_sample(rank, self.label, before.popleft())
                    before.popleft()
                elif len(before) > PENDING_MAX:  # a step that makes new documents: it cannot be traced
                    before.clear()
            if mine is not None:
                mine.append(doc)
            yield doc
        while before:  # dropped after the last document that came through
            self.ledger.keep_sample(rank, self.label, before.popleft())


class ReasonMarker:
    """An exclusion writer that writes nothing: with it, datatrove's ``BaseFilter`` puts the drop reason on the
    document (``metadata["filter_reason"]``), which the tracer reads."""

    def __enter__(self) -> ReasonMarker:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def write(self, doc: Any, rank: int = 0, **kw: Any) -> None:
        return None


def trace_reasons(step: Any) -> Any:
    """Give a datatrove filter without an exclusion writer the ``ReasonMarker`` (returns the step)."""
    from datatrove.pipeline.filters.base_filter import BaseFilter

    if isinstance(step, BaseFilter) and getattr(step, "exclusion_writer", None) is None:
        step.exclusion_writer = ReasonMarker()
    return step


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
