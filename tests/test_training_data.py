"""Training data path: tokenized shards, BFD packing, packed-vs-unpacked loss, sample plan hash and checksums."""

from __future__ import annotations

import numpy as np
import pytest

from training.packing import bfd_pack, collate


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    from catalogs import Store
    from training.demo_data import build_inputs
    from training.tiny import build_tiny_model, train_tokenizer

    root = tmp_path_factory.mktemp("tdata")
    store = Store.open(root / "store")
    snap = build_inputs(store, n_docs=120, n_conv=10)
    texts = [r["text"] for r in store.iter_records("fin-docs@1", columns=["text"])]
    tok = train_tokenizer(texts, root / "tok", vocab_size=512)
    model = build_tiny_model(tok, root / "model")
    return {"store": store, "snap": snap, "tok": str(tok), "model": str(model), "root": root}


def test_bfd_places_every_item_once_within_capacity():
    rng = np.random.default_rng(1)
    lengths = rng.integers(1, 100, size=500)
    bins = bfd_pack(lengths, 100)
    flat = sorted(i for b in bins for i in b)
    assert flat == list(range(500))
    assert all(lengths[b].sum() <= 100 for b in bins)
    # best fit decreasing on a known case: 7+3, 6+4, 5+5 fill three bins of 10 exactly
    assert sorted(sorted(int(x) for x in np.array([7, 6, 5, 5, 4, 3])[b]) for b in bfd_pack(np.array([7, 6, 5, 5, 4, 3]), 10)) \
        == [[3, 7], [4, 6], [5, 5]]
    assert len(bins) <= int(np.ceil(lengths.sum() / 100)) * 1.05 + 1  # near the lower bound
    with pytest.raises(ValueError, match="does not fit"):
        bfd_pack(np.array([11]), 10)


@pytest.mark.parametrize("mode", ["4d", "position_ids"])
def test_packed_loss_equals_unpacked_per_document(env, mode):
    import torch
    from transformers import AutoModelForCausalLM

    from training.trainer import token_loss_sum

    model = AutoModelForCausalLM.from_pretrained(env["model"]).eval()
    rng = np.random.default_rng(0)
    docs = [rng.integers(5, 500, size=n) for n in (9, 31, 17, 4, 40, 23, 11)]
    bins = bfd_pack(np.array([len(d) for d in docs]), 64)
    assert len(bins) < len(docs)  # really packed several documents per sequence
    batch = collate([[(docs[j], docs[j]) for j in b] for b in bins], 64, 1, mode)
    assert batch["position_ids"][0, 0] == 0 and (batch["position_ids"] == 0).sum() >= len(docs)
    with torch.no_grad():
        packed = token_loss_sum(model(**{k: v for k, v in batch.items() if k != "labels"}, use_cache=False).logits,
                                batch["labels"])
        per_doc = [token_loss_sum(model(input_ids=torch.tensor(d)[None], use_cache=False).logits, torch.tensor(d)[None])
                   for d in docs]
    n_targets = int((batch["labels"][:, 1:] != -100).sum())
    assert n_targets == sum(len(d) - 1 for d in docs)
    assert float(packed) == pytest.approx(float(sum(per_doc)), rel=1e-5)
    # without the block-diagonal mask the loss differs: attention leaks across documents
    with torch.no_grad():
        leaky = token_loss_sum(model(input_ids=batch["input_ids"], use_cache=False).logits, batch["labels"])
    assert abs(float(leaky) - float(packed)) > 1e-3


def test_tokenize_version_content_reuse_and_parallel(env, tmp_path):
    from transformers import AutoTokenizer

    from training.tokenize import TokenShards, tokenize_version

    store = env["store"]
    with store.writer("many-shards", kind="doc", shard_rows=40) as w:
        w.write(list(store.iter_records("fin-docs@1")))
    doc = w.manifest
    assert len(doc.shards) >= 3
    m = tokenize_version(store, doc.ref, env["tok"], progress=False)
    assert m.kind == "tokens" and m.parents[0]["name"] == "many-shards"
    assert m.rows == doc.rows and m.inputs == doc.rows and not m.drops
    assert m.recipe["tokenizer_sha256"] and m.tokens == m.extra["tokens"]
    tok = AutoTokenizer.from_pretrained(env["tok"])
    texts = [r["text"] for r in store.iter_records(doc.ref, columns=["text"]) if r["text"]]
    shards = TokenShards(store, m)
    assert len(shards) == len(texts)
    for i in (0, 17, len(texts) - 1):
        want = tok(texts[i], add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        assert shards.get(i).tolist() == want
    assert m.tokens == sum(len(tok(t, add_special_tokens=False)["input_ids"]) + 1 for t in texts)
    # same doc version + same tokenizer → the same version, no new one
    assert tokenize_version(store, doc.ref, env["tok"], progress=False).ref == m.ref
    # two worker processes write byte-identical shards (same content hash under another name)
    m2 = tokenize_version(store, doc.ref, env["tok"], name="many-shards.par", workers=2, progress=False)
    assert m2.hash == m.hash


def test_tokenize_resumes_from_completed_shards(env, monkeypatch):
    import training.tokenize as tk

    store = env["store"]
    with store.writer("resume-docs", kind="doc", shard_rows=30) as w:
        w.write(list(store.iter_records("fin-docs@1")))
    calls = []
    real = tk._tokenize_shard

    def crash_on_third(*a):
        calls.append(a[2])
        if len(calls) == 3:
            raise RuntimeError("simulated crash")
        return real(*a)

    monkeypatch.setattr(tk, "_tokenize_shard", crash_on_third)
    with pytest.raises(RuntimeError, match="simulated crash"):
        tk.tokenize_version(store, w.manifest.ref, env["tok"], progress=False)
    assert store.ls(name="resume-docs.tok-" + tk.tokens_recipe(env["tok"])["tokenizer_sha256"][:8]) == []
    calls.clear()
    monkeypatch.setattr(tk, "_tokenize_shard", lambda *a: (calls.append(a[2]), real(*a)))
    m = tk.tokenize_version(store, w.manifest.ref, env["tok"], progress=False)
    assert calls == list(range(2, len(w.manifest.shards)))  # shards 0 and 1 were not redone
    assert m.rows == w.manifest.rows


def _spec(env, **kw):
    from training.plan import make_spec
    from training.tokenize import tokenize_version

    store = env["store"]
    fin = tokenize_version(store, "fin-docs@1", env["tok"], progress=False)
    gen = tokenize_version(store, "gen-docs@1", env["tok"], progress=False)
    args = {"seq_len": 128, "seed": 3, "epochs": 1.0, "val_fraction": 0.05}
    args.update(kw)
    weights = args.pop("weights", (0.75, 0.25))
    return make_spec(store, "cpt", [(fin, weights[0]), (gen, weights[1])], **args), [fin, gen]


def test_plan_is_deterministic_hashed_and_complete(env):
    from training.data import TokenSource
    from training.plan import build

    spec, ms = _spec(env)
    spec2, _ = _spec(env)
    assert spec.hash == spec2.hash and len(spec.hash) == 16
    for change in ({"seed": 4}, {"seq_len": 256}, {"weights": (0.5, 0.5)}, {"epochs": 2.0},
                   {"packing": {"window": 16}}, {"val_fraction": 0.1}):
        assert _spec(env, **change)[0].hash != spec.hash, change
    lengths = [TokenSource(env["store"], m).lengths for m in ms]
    a, b = build(spec, lengths), build(spec, lengths)
    assert len(a.train) == len(b.train) and all((x == y).all() for x, y in zip(a.train, b.train, strict=True))
    # weights ask 75/25 of the documents; within each source nothing repeats when not upsampled
    segs = np.concatenate(a.train)
    docs = {(int(s), int(d)) for s, d, _, _ in segs}
    total = sum(len(x) for x in lengths) - sum(len(x) for x in (np.concatenate(a.val)[:, :2],))
    assert abs(sum(1 for s, _ in docs if s == 0) - 0.75 * total) <= 2
    val_docs = {(int(s), int(d)) for s, d, _, _ in np.concatenate(a.val)}
    assert val_docs and not (val_docs & docs)  # held-out documents never trained on
    assert all(int(s[:, 3].sum()) <= 128 for s in a.train)
    assert a.stats.padding_ratio < 0.1 and a.stats.cropped_ratio == 0.0  # split mode crops nothing
    assert a.stats.real_tokens == sum(int(lengths[s][d]) for s, d in docs)


def test_checksum_mismatch_is_refused(env):
    from training.plan import PlanError, verify_sources

    spec, ms = _spec(env)
    verify_sources(env["store"], spec)  # clean store passes
    path = env["store"].shard_paths(ms[1])[0]
    data = bytearray(path.read_bytes())
    data[5] ^= 0xFF
    path.write_bytes(bytes(data))
    try:
        with pytest.raises(PlanError, match="sha256 mismatch"):
            verify_sources(env["store"], spec)
    finally:
        data[5] ^= 0xFF
        path.write_bytes(bytes(data))


def test_stage_registry_and_config_layers():
    from training.stages import STAGES, LMStage, get_stage, register_stage, stage_config

    assert {"cpt", "sft"} <= set(STAGES) and isinstance(get_stage("sft"), LMStage)
    with pytest.raises(KeyError, match="unknown stage 'nope'"):
        get_stage("nope")
    cfg = stage_config("sft", "tiny", {"max_steps": 3, "sft": {"lr": 0.5}, "cpt": {"lr": 9.0},
                                       "packing": {"window": 10}})
    assert cfg["max_steps"] == 3 and cfg["lr"] == 0.5  # common key, then the stage's own dict wins
    assert cfg["seq_len"] == 512 and cfg["micro_batch"] == 2  # tiny.yaml over recipes/stages/sft.yaml
    assert cfg["packing"] == {"strategy": "bfd", "window": 10, "long_docs": "truncate"}  # dicts merge
    assert stage_config("cpt", "/some/hf/model")["seq_len"] == 2048  # no tiny layer for a real model
    pinned = {"epochs": 3.0, "cpt": {"seed": 7}}  # a snapshot's options sit under the user's overrides
    assert stage_config("cpt", "tiny", {"seed": 8}, pinned)["seed"] == 8
    assert stage_config("cpt", "tiny", None, pinned)["seed"] == 7
    assert stage_config("sft", "tiny", None, pinned)["epochs"] == 3.0

    @register_stage("unit_test_stage")
    class Dummy(LMStage):
        kinds = ("sft",)

    try:
        assert isinstance(get_stage("unit_test_stage"), Dummy) and Dummy.name == "unit_test_stage"
    finally:
        STAGES.pop("unit_test_stage")


def test_mfu_flops_formula():
    from training.mfu import peak_flops, train_flops

    # 6·N·tokens + 12·L·d·Σ len² / 2: one 2048-token doc vs two 1024-token docs differ only in attention
    one = train_flops(10**9, 24, 2048, 2048, 2048**2)
    two = train_flops(10**9, 24, 2048, 2048, 2 * 1024**2)
    assert one - two == 6 * 24 * 2048 * (2048**2 - 2 * 1024**2)
    assert two > 6 * 10**9 * 2048
    import torch

    if not torch.cuda.is_available():
        assert peak_flops() is None  # MFU is omitted on CPU


def test_collate_mask_is_block_diagonal_causal():
    import torch

    a, b = np.arange(10, 13), np.arange(20, 22)
    batch = collate([[(a, a), (b, b)]], 7, 0, "4d")
    seg = torch.tensor([0, 0, 0, 1, 1, 2, 2])  # two documents, then padding as its own block
    want = (seg[:, None] == seg[None, :]) & torch.ones(7, 7, dtype=torch.bool).tril()
    assert torch.equal(batch["attention_mask"][0, 0], want)
    assert batch["position_ids"][0].tolist() == [0, 1, 2, 0, 1, 0, 1]
    assert batch["labels"][0].tolist() == [-100, 11, 12, -100, 21, -100, -100]
    f = collate([[(a, a), (b, b)]], 7, 0, "4d_float")["attention_mask"][0, 0]
    assert torch.equal(f == 0, want) and (f[~want] == torch.finfo(torch.float32).min).all()
