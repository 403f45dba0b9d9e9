"""Writing sft/rl versions from teacher replies: provenance, failures shard, counts, accounting; RL exporters."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from catalogs.manifest import recipe_hash
from synthesis.rewards import Result, export_rl, score, verl_compute_score
from synthesis.teachers import Request, TeacherClient
from synthesis.testing import FakeOpenAIServer
from synthesis.writing import SynthWriter

RECIPE = {"generator": "qa-v1", "teacher": "fake", "n": 6}


def test_sft_version_with_provenance_failures_and_accounting(store):
    with FakeOpenAIServer() as srv:
        client = TeacherClient(srv.endpoint(max_retries=0), backoff_base=0.01)
        srv.enqueue("500")  # the first request fails for good (max_retries 0)
        reqs = [Request([{"role": "user", "content": f"What is {i} + {i}?"}], id=str(i)) for i in range(6)]
        replies = client.run(reqs)
    with SynthWriter(store, "fin-sft", "sft", generator="qa-v1", recipe=RECIPE, accounting=client.accounting) as w:
        for req, rep in zip(reqs, replies, strict=True):
            if not rep.ok:
                w.fail(f"teacher_failed: {rep.error}", item={"id": req.id}, reply=rep)
            elif req.id == "5":
                w.add({"messages": [], "lang": "en"}, rep)  # invalid record: failed, not raised
            elif req.id == "4":
                w.drop("duplicate")
            else:
                w.add({"messages": req.messages + [rep.message()], "lang": "en",
                       "taxonomy": "financial_nlp/classification/sentiment"}, rep)
    m = w.manifest
    assert m.rows == 3 and m.inputs == 6 and m.rows + m.dropped + m.n_quarantined == m.inputs
    assert m.quarantined == {"teacher_failed": 1, "invalid_record": 1} and m.drops == {"duplicate": 1}
    assert m.extra["failures"] == {"teacher_failed": 1, "invalid_record": 1} and m.extra["generator"] == "qa-v1"
    acc = m.extra["teacher_accounting"]["by_teacher"]["fake:fake-model"]
    assert acc["requests"] == 6 and acc["failed"] == 1 and acc["ok"] == 5 and acc["cost_usd"] > 0
    rows = store.read_table(m).to_pylist()
    by_hash = {r.request_hash: r for r in replies}
    for row in rows:
        src = row["source"]
        assert src["generator"] == "qa-v1" and src["teacher"] == "fake:fake-model"
        assert src["recipe"] == recipe_hash(RECIPE) and src["request_hash"] in by_hash
        assert row["messages"][-1]["content"] == by_hash[src["request_hash"]].content
        assert json.loads(row["meta"])["finish_reason"] == "stop"
    q = store.read_quarantine(m).to_pylist()
    assert sorted(x["reason"].split(":")[0] for x in q) == ["invalid_record", "teacher_failed"]
    failed = next(x for x in q if x["reason"].startswith("teacher_failed"))
    assert "500" in failed["reason"] and json.loads(failed["record"])["source"]["request_hash"]


def test_synth_writer_refuses_other_kinds(store):
    with pytest.raises(ValueError, match="sft or rl"):
        SynthWriter(store, "x", "doc", generator="g")


def _rl_records() -> list[dict]:
    return [
        {"prompt": [{"role": "user", "content": "Revenue grew from 120 to 150. Growth in percent?"}],
         "reward_spec": {"spec_version": 1, "type": "numeric", "answer": "25", "unit": "percent"},
         "taxonomy": "numerical_reasoning/financial_math/ratio_growth", "lang": "en", "difficulty": 0.3},
        {"prompt": [{"role": "system", "content": "Answer with a letter."}, {"role": "user", "content": "Q? A) x B) y"}],
         "reward_spec": {"spec_version": 1, "type": "choice", "answer": "B"},
         "taxonomy": "knowledge_exams/certification/cfa_frm_mc", "lang": "en"},
    ]


def test_rl_version_and_verl_trl_exports(store, tmp_path):
    with SynthWriter(store, "fin-rl", "rl", generator="seed") as w:
        for r in _rl_records():
            w.add(r)
    m = w.manifest
    assert m.rows == 2 and m.inputs == 2
    verl = export_rl(store, m.ref, tmp_path / "verl.parquet", "verl")
    assert verl["rows"] == 2
    rows = pq.read_table(tmp_path / "verl.parquet").to_pylist()
    assert set(rows[0]) == {"data_source", "prompt", "ability", "reward_model", "extra_info"}
    assert rows[0]["data_source"] == "fin-rl" and rows[0]["ability"] == "numerical_reasoning"
    assert rows[0]["reward_model"]["style"] == "rule" and rows[1]["prompt"][0]["role"] == "system"
    gt = rows[0]["reward_model"]["ground_truth"]
    assert verl_compute_score("fin-rl", "so the answer is \\boxed{25\\%}", gt) == 1.0
    assert verl_compute_score("fin-rl", "\\boxed{0.25}", gt) == 0.0  # no silent ×100
    export_rl(store, m.ref, tmp_path / "trl.parquet", "trl")
    trl = pq.read_table(tmp_path / "trl.parquet").to_pylist()
    assert trl[1]["prompt"][-1] == {"role": "user", "content": "Q? A) x B) y"}
    assert score(trl[1]["reward_spec"], "Answer: B") == Result(1.0, ["B"], ["B"], "match [answer_line]")
    with pytest.raises(ValueError, match="only rl"):
        with store.writer("d", "doc") as dw:
            dw.write([{"text": "x"}])
        export_rl(store, "d@1", tmp_path / "x.parquet")


def test_cli_export_and_endpoints(store, tmp_path):
    from huijin.cli import app

    with SynthWriter(store, "fin-rl", "rl", generator="seed") as w:
        for r in _rl_records():
            w.add(r)
    out = tmp_path / "o.parquet"
    r = CliRunner().invoke(app, ["synth", "export", "fin-rl@1", "--format", "trl", "--out", str(out),
                                 "--store", str(store.root)])
    assert r.exit_code == 0, r.output
    assert pq.read_table(out).num_rows == 2
    r = CliRunner().invoke(app, ["synth", "endpoints", "--json"], env={"DEEPSEEK_API_KEY": "sk-should-not-print"})
    assert r.exit_code == 0 and "sk-should-not-print" not in r.output
    eps = {e["name"]: e for e in json.loads(r.output)}
    assert eps["deepseek-chat"]["key_set"] is True and eps["deepseek-chat"]["key_env"] == "DEEPSEEK_API_KEY"
