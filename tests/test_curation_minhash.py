"""MinHash signatures: determinism, similarity estimates, number handling, datatrove file compatibility."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from datatrove.data import Document

from curation.dedup import DedupFilter, LabelledCluster
from curation.minhash import (
    TOKEN,
    DedupParams,
    FastMinHash,
    FastMinhashSignature,
    exact_key,
    text_word_hashes,
    word_hashes,
)


def _words(n, seed):
    rng = random.Random(seed)
    vocab = [f"w{i}" for i in range(3000)]
    return [rng.choice(vocab) for _ in range(n)]


def _jaccard(a, b, n=5):
    sa = {tuple(a[i:i + n]) for i in range(len(a) - n + 1)}
    sb = {tuple(b[i:i + n]) for i in range(len(b) - n + 1)}
    return len(sa & sb) / len(sa | sb)


@pytest.mark.parametrize("scheme", ["oph", "classic"])
def test_signature_estimates_jaccard(scheme):
    mh = FastMinHash(DedupParams(scheme=scheme, num_buckets=16, hashes_per_bucket=16))
    base = _words(800, 0)
    for k in (20, 80, 300):
        other = list(base)
        rng = random.Random(k)
        for i in rng.sample(range(len(other)), k):
            other[i] = "zzz"
        est = float((mh.signature(" ".join(base)) == mh.signature(" ".join(other))).mean())
        assert abs(est - _jaccard(base, other)) < 0.12
    assert (mh.signature(" ".join(base)) == FastMinHash(mh.params).signature(" ".join(base))).all()
    assert (mh.signature(" ".join(base)) == mh.signature(" ".join(_words(800, 1)))).mean() < 0.05


def test_tokens_cjk_and_vectorised_hashes_match_regex():
    text = "Net income 1,234.5 中国平安 café ünïcode—rose 12%"
    assert TOKEN.findall(text.lower()) == ["net", "income", "1", "234", "5", "中", "国", "平", "安", "café", "ünïcode",
                                           "rose", "12"]
    assert (text_word_hashes(text.lower()) == word_hashes(TOKEN.findall(text.lower()))).all()


def test_numbers_matter_unless_normalised():
    a = "Revenue for the quarter was 1,234 million and net income was 210 million, compared with last year. " * 3
    b = a.replace("1,234", "1,876").replace("210", "305")
    keep = FastMinHash(DedupParams())
    norm = FastMinHash(DedupParams(normalize_numbers=True))
    assert (keep.signature(a) == keep.signature(b)).mean() < 0.9
    assert (norm.signature(a) == norm.signature(b)).all()
    assert exact_key("Net  Income\n") == exact_key("net income") != exact_key("net income 2")


def test_threshold_params():
    p = DedupParams.for_threshold(0.8, 112, verify=False)  # LSH alone: bands balanced around the threshold
    assert p.num_buckets * p.hashes_per_bucket <= 112 and 0.7 < p.threshold < 0.9 and not p.verify
    v = DedupParams.for_threshold(0.8, 112)  # verified: bands aim lower (candidates), the exact sets decide
    assert v.num_buckets * v.hashes_per_bucket <= 112 and v.threshold < 0.5 and (v.jaccard, v.containment) == (0.8, 0.9)
    assert DedupParams() == v
    assert DedupParams(num_buckets=14, hashes_per_bucket=8).threshold == pytest.approx((1 / 14) ** (1 / 8))
    for bad in (0, 1.5):  # datasketch would silently pick bands for a meaningless threshold
        with pytest.raises(ValueError, match="between 0 and 1"):
            DedupParams.for_threshold(bad)


def test_datatrove_buckets_read_our_signatures_and_clusters_label(tmp_path):
    """Our stage-1 files feed datatrove's MinhashDedupBuckets unchanged; exact vs near labels are right."""
    from datatrove.pipeline.dedup.minhash import MinhashDedupBuckets

    params = DedupParams(num_buckets=14, hashes_per_bucket=8)
    base = " ".join(_words(400, 3))
    near = base.replace("w1", "w2", 3) + " tail words"
    texts = [[base, "unrelated " + " ".join(_words(300, 4))], [base.upper(), near, " ".join(_words(300, 5))]]
    sig = tmp_path / "sigs"
    for rank, ts in enumerate(texts):
        step = FastMinhashSignature(str(sig), params)
        assert len(list(step.run(iter(Document(text=t, id=str(i), metadata={}) for i, t in enumerate(ts)), rank, 2))) == len(ts)
    for b in range(params.num_buckets):
        list(MinhashDedupBuckets(str(sig), str(tmp_path / "dups"), config=params.datatrove_config()).run(None, b, params.num_buckets) or [])
    list(LabelledCluster(str(tmp_path / "dups"), str(sig), str(tmp_path / "labels")).run(None, 0, 1) or [])
    out = {}
    for rank, ts in enumerate(texts):
        f = DedupFilter(str(tmp_path / "labels"), annotate=True)
        for d in f.run(iter(Document(text=t, id=str(i), metadata={}) for i, t in enumerate(ts)), rank, 2):
            out[(rank, int(d.id))] = (d.metadata["duplicate"], d.metadata["cluster"])
    assert out[(0, 0)][0] is None  # the first copy is kept
    assert out[(1, 0)][0] == "exact_duplicate" and out[(1, 1)][0] == "near_duplicate"
    assert out[(0, 0)][1] == out[(1, 0)][1] == out[(1, 1)][1]
    assert out[(0, 1)] == (None, None) and out[(1, 2)] == (None, None)
    sig_file = sig / "bucket_000" / "00001.minhash.sig"
    rec = np.frombuffer(sig_file.read_bytes(), dtype=[(f"f{i}", "<u8") for i in range(8)] + [("doc", "<u4")])
    assert len(rec) == 3 and (np.sort(rec, order=rec.dtype.names) == rec).all()  # sorted, as datatrove requires


def test_exact_duplicate_10k_under_two_company_ids(shared_data):
    recs = [json.loads(x) for x in (shared_data / "fin_text" / "sec_10k_items.jsonl").open()]
    pair = [r for r in recs if r["filename"].startswith(("1000564_", "1000654_"))]
    text = ["\n\n".join(v for k, v in r.items() if k.startswith("item_") and v) for r in pair]
    assert pair[0]["cik"] != pair[1]["cik"] and exact_key(text[0]) == exact_key(text[1])
    mh = FastMinHash(DedupParams())
    assert (mh.signature(text[0]) == mh.signature(text[1])).all()
    others = [r for r in recs if r not in pair][:5]
    for r in others:
        t = "\n\n".join(v for k, v in r.items() if k.startswith("item_") and v)
        assert (mh.signature(t) == mh.signature(text[0])).mean() < 0.5
