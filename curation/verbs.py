"""The single verbs ``huijin curate extract`` and ``huijin curate dedup``: the same steps as the recipes,
on JSONL/WARC/HTML files or catalog versions of any text-bearing kind (doc, sft, rl), written to JSONL."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from .dedup import BucketGroup, DedupFilter, LabelledCluster, read_labels
from .dedup_params import DedupParams
from .extract import Extract
from .langid import LanguageID
from .ledger import Ledger, LedgerDump
from .minhash_step import FastMinhashSignature
from .readers import CurationReader
from .sink import IntermediateReader, IntermediateWriter


def extract_to_jsonl(inputs: list[str], output: str | Path, store_root: str | None = None,
                     languages: list[str] | None = None, text_key: str = "text", progress: bool = False,
                     **extract_opts: Any) -> dict[str, Any]:
    """One JSON record per page: ``text``, ``url``, ``source`` (file), ``lang``, ``lang_score``.
    Returns the counts: ``inputs = written + dropped + quarantined``. ``progress``: the reader's bar on stderr."""
    ledger = Ledger()
    reader = CurationReader(inputs, ledger=ledger, store_root=store_root, text_key=text_key, progress=progress)
    extract, lang = Extract(**extract_opts), LanguageID(languages=languages)
    written = 0
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    with open(output, "w", encoding="utf-8") as f:
        for doc in lang.run(extract.run(reader.run(None, 0, 1)), 0, 1):
            md = doc.metadata
            f.write(json.dumps({"text": doc.text, "url": md.get("url"), "source": md.get("source"),
                                "lang": md.get("language"), "lang_score": md.get("language_score")},
                               ensure_ascii=False) + "\n")
            written += 1
    acc = ledger.of(0)
    drops = Counter({f"read:{k}": v for k, v in acc.reader_drops.items()})
    for step in (extract, lang):
        for k, v in step.stats.stats.items():
            if k.startswith("dropped_"):
                drops[f"{step.name.split()[-1]}:{k.removeprefix('dropped_')}"] += int(v.total)
    quarantine = Counter(q["reason"].split(":")[0] for q in acc.quarantine)
    return {"inputs": acc.inputs, "written": written, "dropped": dict(drops), "quarantined": dict(quarantine),
            "quarantine": acc.quarantine, "balanced": acc.inputs == written + sum(drops.values()) + sum(quarantine.values())}


class JsonlRecordSink(PipelineStep):
    """Final step of the dedup verb (one task): kept records → ``output``; every record → ``clusters``."""

    name = "📝 huijin jsonl sink"
    type = "💽 - WRITER"

    def __init__(self, output: str, clusters: str | None, labels_folder: str) -> None:
        super().__init__()
        self.output, self.clusters, self.labels_folder = output, clusters, labels_folder

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        labels = read_labels(self.labels_folder, rank)
        next_id = max((cid for _, cid in labels.values()), default=-1) + 1  # singletons get fresh cluster ids
        out = open(self.output, "w", encoding="utf-8")
        cl = open(self.clusters, "w", encoding="utf-8") if self.clusters else None
        try:
            for doc in data:
                md = doc.metadata
                rec = md.get("_record") or {"text": doc.text, "url": md.get("url"), "source": md.get("source")}
                cid = md.get("cluster")
                if cid is None:
                    cid, next_id = next_id, next_id + 1
                if cl:
                    cl.write(json.dumps({"id": doc.id, "cluster": cid, "duplicate": md.get("duplicate")},
                                        ensure_ascii=False) + "\n")
                if md.get("duplicate"):
                    self.stat_update(f"dropped_{md['duplicate']}")
                else:
                    out.write(json.dumps(rec, ensure_ascii=False, default=str) + "\n")
                    self.stat_update("kept")
                yield doc
        finally:
            out.close()
            if cl:
                cl.close()


def dedup_to_jsonl(inputs: list[str], output: str | Path, clusters: str | Path | None = None,
                   threshold: float = 0.8, store_root: str | None = None, text_key: str = "text",
                   exact: bool = True, near: bool = True, normalize_numbers: bool = False,
                   num_perm: int = 112, work_dir: str | Path | None = None, containment: float | None = 0.9,
                   verify: bool = True, progress: bool = False) -> dict[str, Any]:
    """Exact + MinHash dedup of text records (JSONL files or doc/sft/rl versions), on datatrove's executor.
    Kept records are written unchanged; ``clusters`` gets one ``{"id", "cluster"}`` line per input record.
    ``progress``: the reader's bar on stderr (the first stage reads every record; the others are quick)."""
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup.minhash import MinhashDedupBuckets
    from loguru import logger

    params = DedupParams.for_threshold(threshold, num_perm, containment=containment, verify=verify,
                                       normalize_numbers=normalize_numbers)
    work = Path(work_dir or tempfile.mkdtemp(prefix="huijin-dedup-"))
    sig, mid, dups, labels = (str(work / d) for d in ("sigs", "stage1", "dups", "labels"))
    ledger = Ledger()
    reader = CurationReader(inputs, ledger=ledger, store_root=store_root, text_key=text_key, keep_record=True,
                            progress=progress)
    # without a clusters file asked for, one is still written (in the work folder) to count removals by reason
    cluster_file = Path(clusters) if clusters else work / "clusters.jsonl"
    sink = JsonlRecordSink(str(output), str(cluster_file), labels)
    stages = [[reader, LedgerDump(ledger, str(work / "ledger")), FastMinhashSignature(sig, params, minhash=near),
               IntermediateWriter(mid)]]
    tasks = [1]
    if near:
        stages.append([BucketGroup(MinhashDedupBuckets(sig, dups, config=params.datatrove_config()), params.num_buckets)])
        tasks.append(1)
    stages += [[LabelledCluster(dups, sig, labels, exact=exact, params=params)], [IntermediateReader(mid), DedupFilter(labels, annotate=True), sink]]
    tasks += [1, 1]
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    logger.disable("datatrove")
    try:
        for i, (pipe, n) in enumerate(zip(stages, tasks, strict=True)):
            LocalPipelineExecutor(pipe, tasks=n, workers=1, logging_dir=str(work / f"logs{i}"), skip_completed=False).run()
        counts = json.loads((work / "ledger" / "00000.json").read_text())
        result = _dedup_counts(output, cluster_file, counts, params)
    finally:
        logger.enable("datatrove")
        if work_dir is None:
            shutil.rmtree(work, ignore_errors=True)
    if not clusters:
        result["clusters"] = None
    return result | {"threshold": threshold}


def _dedup_counts(output: str | Path, clusters: str | Path, counts: dict, params: DedupParams) -> dict:
    kept = sum(1 for _ in open(output, encoding="utf-8"))
    rows = [json.loads(line) for line in open(clusters, encoding="utf-8")]
    dup = Counter(r["duplicate"] for r in rows if r["duplicate"])
    quarantined = Counter(q["reason"].split(":")[0] for q in counts["quarantine"])
    return {"inputs": counts["inputs"], "kept": kept, "removed": dict(dup),
            "quarantined": dict(quarantined), "quarantine": counts["quarantine"],
            "clusters": len({r["cluster"] for r in rows}), "lsh_midpoint": round(params.threshold, 3),
            "bands": params.num_buckets, "rows_per_band": params.hashes_per_bucket,
            "balanced": counts["inputs"] == kept + sum(dup.values()) + sum(quarantined.values())}
