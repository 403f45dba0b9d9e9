"""MinHash signatures: determinism, similarity estimates, number handling, datatrove file compatibility."""

from __future__ import annotations

import csv
import hashlib
import json
import random
import unicodedata

import numpy as np
import pytest
from datatrove.data import Document

from curation.dedup import DedupFilter, LabelledCluster
from curation.dedup_params import DedupParams
from curation.minhash import FastMinHash
from curation.minhash_step import FastMinhashSignature
from curation.text_hashing import TOKEN, exact_key, nfkc, normalize, text_word_hashes, word_hashes


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


# -- batched signatures (issue 14: short documents) ------------------------------------------------------
EDGE = ["", "   ", "ab", "a b c", "々", "——", "中", "x 々", "…", "ΣΑΣ ok", "Ａｂｃ１２３　ｘ", "e\u0301 combining",
        "1 2 3 4 5 6", "Ａ\u0301ｂ", "€ 5 ™ ① ㎡ ½ ² café—rose “q” 「中」、。", "ｶﾞ ﾊﾟ 가각 ᄀ\u1161"]
PARAMS = [DedupParams(), DedupParams(scheme="classic", num_buckets=14, hashes_per_bucket=8),
          DedupParams(normalize_numbers=True, n_grams=3)]


def _real_texts(shared) -> list[str]:
    """Raw en and zh text (punctuation, full-width forms and line breaks kept), short (50-150 words or
    characters) and long (600-2,000): 10-K items, Chinese financial news, Wikipedia paragraphs; then edge cases."""
    rng = random.Random(14)
    recs = [json.loads(x) for x in (shared / "fin_text" / "sec_10k_items.jsonl").open()][:3]
    en = " ".join(v for r in recs for k, v in r.items() if k.startswith("item_") and v).split(" ")
    with (shared / "fin_text" / "zh_fineva_ant_text_summarization.csv").open(encoding="utf-8-sig") as f:
        zh = "".join(r["question"] for r in csv.DictReader(f))
    wiki = [json.loads(x) for x in (shared / "general_text" / "wiki_paragraphs.jsonl").open()]
    texts = []
    for lo, hi, count in ((50, 150, 40), (600, 2000, 10)):
        for _ in range(count):
            n = rng.randrange(lo, hi)
            i, j = rng.randrange(len(en) - n), rng.randrange(len(zh) - n)
            texts += [" ".join(en[i: i + n]), zh[j: j + n]]
    for lang in ("en", "zh"):
        texts += [w["text"] for w in wiki if w["lang"] == lang][:100]
    return texts + EDGE


def _digest(signed) -> str:
    h = hashlib.sha256()
    for sig, shingle_set in signed:
        h.update(b"-" if sig is None else sig.astype("<u8").tobytes())
        h.update(len(shingle_set).to_bytes(8, "little") + shingle_set.astype("<u8").tobytes())
    return h.hexdigest()


@pytest.mark.parametrize("params", PARAMS, ids=["oph", "classic", "numbers-3gram"])
def test_sign_batch_is_sign_text_by_text(shared_data, params, monkeypatch):
    """The batched path (texts joined, one numpy pass) gives each text's ``sign`` bit for bit, in small chunks
    and large, from raw or already folded text; its sets are the per-text shingles' distinct values."""
    import curation.minhash as cm

    texts = _real_texts(shared_data)
    mh = FastMinHash(params)
    ref = [mh.sign(t) for t in texts]
    for chunk in (cm.CHUNK_CHARS, 3000):
        monkeypatch.setattr(cm, "CHUNK_CHARS", chunk)
        for batch in (mh.sign_batch(texts), mh.sign_batch([normalize(t) for t in texts], folded=True)):
            for i, (sig, sh) in enumerate(ref):
                assert (sig is None) == (batch.signature(i) is None), texts[i][:40]
                assert sig is None or (sig == batch.signature(i)).all(), texts[i][:40]
                assert np.array_equal(np.unique(sh), batch.set(i)), texts[i][:40]
    assert mh.sign_batch([]).sigs.shape == (0, params.num_perm)


# sha256 of (signature, shingle set) per text of _real_texts, from the per-document implementation before
# batching (commit 111dada): signatures, shingle sets, and so clusters and versions, are unchanged
BEFORE_BATCHING = {
    "oph": "d256e949c9c1bfab7782e623a9b36e34e47759f56e1713c4a989e6097413ddaa",
    "classic": "5a018eedeeaa100a90131d8770264d2d65918c93387060bea73290b57cbb8097",
    "numbers-3gram": "29a0a1436557f6fb80de301dcbe749c2f89b3428072229996a0029036a4aedfd",
}


@pytest.mark.parametrize("params", PARAMS, ids=list(BEFORE_BATCHING))
def test_signatures_unchanged_by_batching(shared_data, params, request):
    mh = FastMinHash(params)
    batch = mh.sign_batch(_real_texts(shared_data))
    digest = _digest((batch.signature(i), batch.set(i)) for i in range(len(batch.has)))
    assert digest == BEFORE_BATCHING[request.node.callspec.id]


def test_nfkc_is_unicodedata(shared_data):
    """The table-first NFKC equals ``unicodedata.normalize`` (compatibility characters next to combining marks
    included: those fall back to the full normalisation)."""
    for t in _real_texts(shared_data) + ["Ａ\u0301", "ｶﾞ", "ﾊ\u309a", "①\u0301", "™\u0308x", "\u3000\u0301"]:
        assert nfkc(t) == unicodedata.normalize("NFKC", t), t[:40]


def test_signature_step_batches_write_the_same_files(tmp_path):
    """Stage 1 signs in batches; the batch size changes no byte of its files."""
    texts = [" ".join(_words(n, s)) for s, n in enumerate([0, 3, 60, 400, 80, 4, 900, 60])] + ["中文文本" * 20, "——"]
    texts.insert(3, texts[2])
    outs = []
    for size in (1, 3, 1000):
        step = FastMinhashSignature(str(tmp_path / str(size)), DedupParams(), batch_docs=size)
        docs = list(step.run(iter(Document(text=t, id=str(i), metadata={}) for i, t in enumerate(texts)), 0, 1))
        assert [d.text for d in docs] == texts
        outs.append({p.relative_to(tmp_path / str(size)): p.read_bytes()
                     for p in sorted((tmp_path / str(size)).rglob("*")) if p.is_file()})
    assert outs[0] == outs[1] == outs[2] and len(outs[0]) == 43 + 3
