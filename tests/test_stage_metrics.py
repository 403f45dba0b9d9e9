"""Stage metrics: bootstrap intervals against a second method, bits per byte against transformers' own loss,
held-out versions disjoint from every training version, and the `eval compare --json` shape."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from training.evaluation.stats import bootstrap_ci, disjoint
from training.holdout import HoldoutError, held_out, split_holdout


def test_bootstrap_matches_normal_interval_on_a_known_sample():
    # 30 successes of 100: the Wald interval is 0.3 ± 1.96·sqrt(0.3·0.7/100) = [0.210, 0.390]
    e = bootstrap_ci([1.0] * 30 + [0.0] * 70)
    assert e.value == pytest.approx(0.3) and e.n == 100
    half = 1.96 * math.sqrt(0.3 * 0.7 / 100)
    assert e.ci[0] == pytest.approx(0.3 - half, abs=0.02) and e.ci[1] == pytest.approx(0.3 + half, abs=0.02)


def test_bootstrap_weighted_mean_and_degenerate_cases():
    rng = np.random.default_rng(1)
    bits, nbytes = rng.uniform(1, 3, 200), rng.integers(50, 500, 200).astype(float)
    e = bootstrap_ci(list(bits), list(nbytes))  # bpb = Σ bits·bytes / Σ bytes, the byte-weighted mean
    assert e.value == pytest.approx(float((bits * nbytes).sum() / nbytes.sum()))
    assert e.ci[0] < e.value < e.ci[1] and e.ci[1] - e.ci[0] < 0.3
    assert bootstrap_ci([1.0, 1.0, 1.0]).ci == (1.0, 1.0)
    assert bootstrap_ci([None, 0.5]).to_dict() == {"value": 0.5, "ci": [0.5, 0.5], "n": 1}
    assert bootstrap_ci([]).value is None
    assert disjoint(bootstrap_ci([1.0] * 50 + [0.0] * 50), bootstrap_ci([1.0] * 95 + [0.0] * 5))
    assert not disjoint(bootstrap_ci([1.0] * 50 + [0.0] * 50), bootstrap_ci([1.0] * 55 + [0.0] * 45))


def _rl_rows(n: int) -> list[dict]:
    return [{"id": f"q{i}", "prompt": [{"role": "user", "content": f"question {i} about table {i // 4}"}],
             "reward_spec": {"spec_version": 1, "type": "numeric", "answer": float(i)}, "taxonomy": "a/b/c",
             "lang": "en", "meta": json.dumps({"context_id": f"t{i // 4}"})} for i in range(n)]


def test_holdout_is_disjoint_by_hash_and_stable(store):
    with store.writer("tasks", "rl") as w:
        w.write(_rl_rows(200))
    train, held = split_holdout(store, "tasks@1", 0.2, key="meta.context_id|id")
    assert train.rows + held.rows == 200 and 10 < held.rows < 80
    assert train.drops == {"held_out": held.rows} and held.drops == {"training_split": train.rows}

    def content(ref):  # the content hash of every prompt, and every table it is about
        rows = list(store.iter_records(ref))
        return ({json.dumps(r["prompt"], sort_keys=True, default=str) for r in rows},
                {json.loads(r["meta"])["context_id"] for r in rows})

    (tp, tt), (hp, ht) = content(train.ref), content(held.ref)
    assert not (tp & hp) and not (tt & ht)  # no prompt and no table on both sides
    assert {p["name"] for p in held.parents} == {"tasks"}
    # rerun: same versions; appended data: old items keep their side
    assert split_holdout(store, "tasks@1", 0.2, key="meta.context_id|id")[1].ref == held.ref
    with store.writer("tasks", "rl") as w:
        w.write(_rl_rows(260))
    _, held2 = split_holdout(store, "tasks@2", 0.2, key="meta.context_id|id")
    assert ht <= content(held2.ref)[1]
    assert held_out("t1", 0.2) == held_out("t1", 0.2) and not held_out("t1", 1e-9)


def test_holdout_refuses_duplicate_ids_and_missing_keys(store):
    with store.writer("dup", "rl") as w:
        w.write(_rl_rows(3) + _rl_rows(1))
    with pytest.raises(HoldoutError, match="not unique"):
        split_holdout(store, "dup@1", 0.5)
    with pytest.raises(HoldoutError, match="row 0.*meta.nothing"):
        split_holdout(store, "dup@1", 0.5, key="meta.nothing")
    with pytest.raises(HoldoutError, match="fraction"):
        split_holdout(store, "dup@1", 1.5)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from training.tiny import build_tiny_model, train_tokenizer

    d = tmp_path_factory.mktemp("tiny")
    texts = [f"Revenue rose {i}% to ${i * 13}.5 million in fiscal {2000 + i}. 营业收入增长{i}%。" for i in range(200)]
    tok = train_tokenizer(texts, d / "tok", vocab_size=400)
    return build_tiny_model(tok, d / "model", seed=0)


def test_bits_per_byte_equals_transformers_loss(tiny):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from training.evaluation.stage_metrics import bpb_per_doc

    tok = AutoTokenizer.from_pretrained(str(tiny))
    model = AutoModelForCausalLM.from_pretrained(str(tiny), dtype=torch.float32).eval()
    text = "Net income was $42.1 million, up 7% from 2019. 净利润增长7%。"
    bits, nbytes = bpb_per_doc(model, tok, [text], window=512)[0]
    ids = ([tok.bos_token_id] if tok.bos_token_id is not None else []) + tok(text, add_special_tokens=False)["input_ids"]
    with torch.no_grad():  # the second implementation: transformers' own shifted cross-entropy (mean over targets)
        loss = model(input_ids=torch.tensor([ids]), labels=torch.tensor([ids])).loss.item()
    assert nbytes == len(text.encode("utf-8"))
    assert bits == pytest.approx(loss * (len(ids) - 1) / math.log(2), rel=1e-4)
    # windows of 7 tokens: every token still predicted once, with less context (close, not equal)
    short = bpb_per_doc(model, tok, [text], window=7)[0][0]
    assert short != pytest.approx(bits, rel=1e-6) and short == pytest.approx(bits, rel=0.1)


def test_eval_compare_json_shape(store, tiny):
    from typer.testing import CliRunner

    from huijin.cli import app
    from training.evaluation.record import record_stage_metrics

    with store.writer("fin", "doc") as w:
        w.write([{"id": f"d{i}", "text": f"Revenue rose {i}% to ${i}.5 million.", "source": "x", "lang": "en",
                  "meta": {"desk": "rates" if i % 3 else "equity"}}
                 if i % 2 else {"id": f"d{i}", "text": f"营业收入增长{i}%，达到{i}.5百万美元。", "source": "x", "lang": "zh"}
                 for i in range(40)])
    _, held = split_holdout(store, "fin@1", 0.25)
    store.snapshots.create("snap", {"cpt": [("fin-train@1", 1.0)]})
    rid = store.runs.start("cpt", "snap", str(tiny), {})
    store.runs.finish(rid, output_model=str(tiny))
    rec = record_stage_metrics(store, store.runs.get(rid), {"bpb_finance": {"kind": "bpb", "version": held.ref,
                                                                            "by": "desk"}})
    assert rec["metrics"]["stage_metrics"]["bpb_finance"]["n"] == held.rows
    res = CliRunner().invoke(app, ["eval", "compare", "--snapshot", "snap", "--json", "--store", str(store.root)])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["snapshot"] == "snap" and out["stages"] == ["base", "cpt"]
    cell = out["metrics"]["bpb_finance"]["cpt"]
    assert set(cell) == {"value", "ci", "n"} and cell["ci"][0] <= cell["value"] <= cell["ci"][1] and cell["n"] == held.rows
    assert out["metrics"]["bpb_finance"]["base"]["value"] == pytest.approx(cell["value"])  # same model both sides
    # en and zh items scored apart too, under the metric; the overall is between them (a byte-weighted mean)
    held_langs = [r["lang"] for r in store.iter_records(held.ref)]
    en, zh = out["metrics"]["bpb_finance.en"]["cpt"], out["metrics"]["bpb_finance.zh"]["cpt"]
    assert (en["n"], zh["n"]) == (held_langs.count("en"), held_langs.count("zh"))
    assert min(en["value"], zh["value"]) <= cell["value"] <= max(en["value"], zh["value"])
    # `by: desk`: a row per value of meta.desk (the zh docs have none: bucket "-"), n adding up to the metric's
    desks = [json.loads(r["meta"]).get("desk", "-") if r.get("meta") else "-" for r in store.iter_records(held.ref)]
    assert {k for k in out["metrics"] if k.startswith("bpb_finance.")} == {f"bpb_finance.{b}" for b in {"en", "zh", *desks}}
    assert set(out["metrics"]["bpb_finance.equity"]) == {"base", "cpt"}  # every stage column has the buckets
    rows = {b: out["metrics"][f"bpb_finance.{b}"]["cpt"] for b in set(desks)}
    assert {b: c["n"] for b, c in rows.items()} == {b: desks.count(b) for b in set(desks)}
    assert rows["-"] == zh  # the docs without a desk are the zh ones: the same items, the same estimate
    assert min(c["value"] for c in rows.values()) <= cell["value"] <= max(c["value"] for c in rows.values())


def test_stage_metric_by_must_name_a_field():
    from training.evaluation.stage_metrics import MetricError, check_metrics

    with pytest.raises(MetricError, match="'by' names one record field"):
        check_metrics({"m": {"kind": "reward", "version": "x@1", "by": ["template"]}})
    with pytest.raises(MetricError, match="a row per language already"):
        check_metrics({"m": {"kind": "reward", "version": "x@1", "by": "lang"}})


def test_stage_metric_buckets_read_columns_and_meta_and_keep_odd_values_apart():
    from training.evaluation.stage_metrics import by_field

    recs = [{"taxonomy": "a/b", "meta": '{"template": "sum"}'}, {"meta": {"template": "sum"}}, {"meta": "not json"},
            {"meta": '{"template": ""}'}, {"meta": '{"template": ["x"]}'}, {"meta": '{"template": 3}'}]
    out = by_field(recs, [1.0, 0.0, 1.0, 1.0, 0.0, 1.0], None, "template")["by"]
    assert out["field"] == "template"
    assert {b: c["n"] for b, c in out["buckets"].items()} == {"sum": 2, "-": 3, "3": 1}
    assert out["buckets"]["sum"]["value"] == 0.5
    assert set(by_field(recs, [1.0] * 6, None, "taxonomy")["by"]["buckets"]) == {"a/b", "-"}  # a column first
    assert by_field(recs, [1.0] * 6, None, None) == {}


def test_stage_table_names_a_bucket_apart_when_it_would_take_a_language_row():
    from training.evaluation.record import stage_table

    est = {"value": 0.5, "ci": [0.4, 0.6], "n": 10}
    m = {"acc": {**est, "by_lang": {"en": est, "zh": est},
                 "by": {"field": "market", "buckets": {"en": {**est, "value": 0.9}, "hk": est}}}}

    class Runs:
        def get(self, rid):
            return {"run_id": rid, "stage": "sft", "snapshot": "s", "started_at": "1",
                    "metrics": {"stage_metrics": m, "stage_metrics_input": m}}

    class FakeStore:
        runs = Runs()

    table = stage_table(FakeStore(), run_ids=["r1"])["metrics"]
    assert table["acc.en"]["sft"]["value"] == 0.5  # the language row stays
    assert table["acc.market=en"]["sft"]["value"] == 0.9 and table["acc.hk"]["sft"] == est
