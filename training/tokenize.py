"""doc version → tokens version: flat uint32 token files plus per-document offsets, one pair per input shard.

Layout of a ``tokens`` version (file-backed, every file sha256-checked by the store)::

    tokens-00000.bin   uint32 token ids of all documents of input shard 0, each followed by EOS
    tokens-00000.idx   uint64 offsets, n_docs + 1 entries (document i = bin[idx[i]:idx[i+1]])

Shards are tokenized in parallel worker processes. Each finished shard leaves a completion marker in a
work folder keyed by (doc version hash, tokenizer sha256), so a crashed or killed job resumes where it
stopped. The recipe records the tokenizer's path and sha256: re-tokenizing the same doc version with the
same tokenizer returns the existing version unchanged.
"""

from __future__ import annotations

import json
import os
import shutil
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from catalogs import Manifest, ShardWriter, Store, content_hash
from catalogs.snapshots import tree_sha256

TOKEN_DTYPE = np.uint32
OFFSET_DTYPE = np.uint64
WORK_DIR = "_work"
TOKENIZE_CODE = 1  # bump when the file format or the text→ids rule changes


class TokenizeError(ValueError):
    pass


def tokens_recipe(tokenizer: str | Path, append_eos: bool = True) -> dict[str, Any]:
    # The tokenizer's identity is its content hash, not its path: the same tokenizer saved elsewhere (e.g. a
    # new run folder) reuses the version; the path is kept in the manifest's ``extra``.
    return {"step": "tokenize", "tokenizer": Path(tokenizer).name, "tokenizer_sha256": tree_sha256(tokenizer),
            "append_eos": append_eos, "dtype": "uint32", "format": TOKENIZE_CODE}


def find_existing(store: Store, name: str, doc: Manifest, recipe: dict[str, Any]) -> Manifest | None:
    """The latest version of ``name`` if it was made from ``doc`` with the same tokenizer (no work to do)."""
    from catalogs.manifest import recipe_hash

    try:
        m = store.resolve(name)
    except Exception:
        return None
    want = [{"name": doc.name, "version": doc.version, "hash": doc.hash}]
    same_tok = m.recipe.get("tokenizer_sha256") == recipe["tokenizer_sha256"]
    if m.kind == "tokens" and m.parents == want and same_tok and m.recipe_hash == recipe_hash(recipe):
        return m
    return None


def default_name(doc: Manifest, recipe: dict[str, Any]) -> str:
    return f"{doc.name}.tok-{recipe['tokenizer_sha256'][:8]}"


def tokenize_version(store: Store, ref: str, tokenizer: str | Path, name: str | None = None, workers: int = 1,
                     batch_docs: int = 1024, progress: bool = True) -> Manifest:
    """Tokenize the ``doc`` version ``ref`` into a ``tokens`` version (resumable, parallel across shards)."""
    doc = store.resolve(ref)
    if doc.kind != "doc":
        raise TokenizeError(f"{doc.ref} is a '{doc.kind}' version: tokenize takes a 'doc' version")
    if not Path(tokenizer).exists():
        raise TokenizeError(f"tokenizer {tokenizer} does not exist")
    if Path(tokenizer).is_dir() and not any((Path(tokenizer) / f).exists()
                                            for f in ("tokenizer.json", "tokenizer_config.json")):
        # checked before hashing the folder: a wrong path (e.g. a parent folder) would be hashed file by file
        raise TokenizeError(f"tokenizer {tokenizer}: no tokenizer.json or tokenizer_config.json in this folder")
    recipe = tokens_recipe(tokenizer)
    name = name or default_name(doc, recipe)
    existing = find_existing(store, name, doc, recipe)
    if existing is not None:
        return existing
    # A fixed staging folder per (input, tokenizer): its _work markers make the job resumable.
    key = content_hash([doc.hash, recipe["tokenizer_sha256"], TOKENIZE_CODE], 12)
    staging = store.root / "staging" / f"{name}-tok-{key}"
    work = staging / WORK_DIR
    work.mkdir(parents=True, exist_ok=True)
    inputs = store.shard_paths(doc)
    todo = [i for i in range(len(inputs)) if not (work / f"{i:05d}.done").exists()]
    jobs = [(str(inputs[i]), str(staging), i, str(Path(tokenizer).resolve()), batch_docs) for i in todo]
    _run_jobs(jobs, workers, progress, doc.ref)
    w = ShardWriter(staging, "tokens", prefix="tokens")
    w.add_inputs(doc.rows)
    for i in range(len(inputs)):
        mark = json.loads((work / f"{i:05d}.done").read_text())
        w.add_file(staging / mark["bin"], name=mark["bin"], rows=mark["docs"], tokens=mark["tokens"])
        w.add_file(staging / mark["idx"], name=mark["idx"], rows=0, tokens=None)
        w.count_drop("empty_text", mark["empty"])
    w.close()
    shutil.rmtree(work)
    n_tokens = sum(s.tokens or 0 for s in w.shards)
    extra = {"tokens": n_tokens, "docs": sum(s.rows for s in w.shards), "vocab_size": _vocab_size(tokenizer),
             "tokenizer_path": str(Path(tokenizer).resolve())}
    return store.commit(staging, name, "tokens", parents=[doc.ref], recipe=recipe, extra=extra)


def _run_jobs(jobs: list[tuple], workers: int, progress: bool, label: str) -> None:
    from tqdm import tqdm

    bar = tqdm(total=len(jobs), desc=f"tokenize {label}", unit="shard", disable=not progress or not jobs)
    if workers <= 1 or len(jobs) <= 1:
        for j in jobs:
            _tokenize_shard(*j)
            bar.update()
    else:
        # Each worker process loads its own tokenizer; the Rust tokenizer then runs single-threaded per worker.
        with ProcessPoolExecutor(max_workers=workers) as ex:
            for _ in ex.map(_tokenize_shard_star, jobs):
                bar.update()
    bar.close()


def _tokenize_shard_star(job: tuple) -> None:
    _tokenize_shard(*job)


def _tokenize_shard(parquet: str, staging: str, idx: int, tokenizer: str, batch_docs: int) -> None:
    import pyarrow.parquet as pq
    from transformers import AutoTokenizer

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    tok = AutoTokenizer.from_pretrained(tokenizer)
    if tok.eos_token_id is None:
        raise TokenizeError(f"tokenizer {tokenizer} has no EOS token: documents could not be separated")
    eos = tok.eos_token_id
    bin_name, idx_name = f"tokens-{idx:05d}.bin", f"tokens-{idx:05d}.idx"
    out_bin, out_idx = Path(staging) / bin_name, Path(staging) / idx_name
    tmp_bin, tmp_idx = out_bin.with_suffix(".bin.tmp"), out_idx.with_suffix(".idx.tmp")
    offsets = [0]
    empty = 0
    with open(tmp_bin, "wb") as fb:
        for batch in pq.ParquetFile(parquet).iter_batches(batch_size=batch_docs, columns=["text"]):
            texts = batch.column(0).to_pylist()
            keep = [t for t in texts if t]
            empty += len(texts) - len(keep)
            if not keep:
                continue
            for ids in tok(keep, add_special_tokens=False)["input_ids"]:
                arr = np.asarray([*ids, eos], dtype=TOKEN_DTYPE)
                fb.write(arr.tobytes())
                offsets.append(offsets[-1] + len(arr))
    np.asarray(offsets, dtype=OFFSET_DTYPE).tofile(tmp_idx)
    os.replace(tmp_bin, out_bin)
    os.replace(tmp_idx, out_idx)
    mark = {"bin": bin_name, "idx": idx_name, "docs": len(offsets) - 1, "tokens": int(offsets[-1]), "empty": empty,
            "source": parquet}
    marker = Path(staging) / WORK_DIR / f"{idx:05d}.done"
    tmp = marker.with_suffix(".tmp")
    tmp.write_text(json.dumps(mark))
    os.replace(tmp, marker)  # written last: a shard without its marker is redone on resume


def _vocab_size(tokenizer: str | Path) -> int:
    from transformers import AutoTokenizer

    return len(AutoTokenizer.from_pretrained(str(tokenizer)))


class TokenShards:
    """Read access to a tokens version: memory-mapped token files and document offsets."""

    def __init__(self, store: Store, ref: str | Manifest) -> None:
        self.manifest = store.resolve(ref) if isinstance(ref, str) else ref
        if self.manifest.kind != "tokens":
            raise TokenizeError(f"{self.manifest.ref} is a '{self.manifest.kind}' version, not 'tokens'")
        base = store.path_of(self.manifest)
        bins = sorted(s.path for s in self.manifest.shards if s.path.endswith(".bin"))
        self.tokens = [np.memmap(base / b, dtype=TOKEN_DTYPE, mode="r") if (base / b).stat().st_size else
                       np.zeros(0, dtype=TOKEN_DTYPE) for b in bins]
        self.offsets = [np.fromfile(base / b.replace(".bin", ".idx"), dtype=OFFSET_DTYPE).astype(np.int64)
                        for b in bins]
        counts = [len(o) - 1 for o in self.offsets]
        self.doc_start = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)  # global doc id → shard
        self.lengths = np.concatenate([np.diff(o) for o in self.offsets]) if counts else np.zeros(0, np.int64)

    def __len__(self) -> int:
        return int(self.doc_start[-1])

    def get(self, doc: int, start: int = 0, length: int | None = None) -> np.ndarray:
        s = int(np.searchsorted(self.doc_start, doc, side="right") - 1)
        off = self.offsets[s]
        lo = int(off[doc - self.doc_start[s]])
        hi = int(off[doc - self.doc_start[s] + 1])
        a = lo + start
        b = hi if length is None else min(hi, a + length)
        return np.asarray(self.tokens[s][a:b], dtype=np.int64)
