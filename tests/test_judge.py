"""LLM-judge filtering: rubrics and thresholds, rule overrides, caching, scores kept in the records."""

from __future__ import annotations

import json

import pytest

from finance.text import script_of
from synthesis.generators import run
from synthesis.generators.records import provenance, sft_record
from synthesis.judge import Judge, check_dialogue, get_rubrics, guarantee_violations
from synthesis.testing import FakeOpenAIServer


def judge_reply(body):
    text = body["messages"][-1]["content"]
    names = [n for n in ("correctness", "helpfulness", "compliance", "language_match") if f"- {n}:" in text]
    if "MALFORMED" in text:
        return json.dumps({"scores": {n: 9 for n in names}, "rationale": "out of range"})
    low = "WRONG" in text
    return json.dumps({"scores": {n: (2 if low and n == "correctness" else 5) for n in names},
                       "rationale": "ok" if not low else "the figure is wrong"})


def conv(q, a):
    return [{"role": "user", "content": q}, {"role": "assistant", "content": a}]


@pytest.fixture
def server():
    with FakeOpenAIServer(responder=judge_reply) as srv:
        yield srv


@pytest.fixture
def sft_version(store):
    recs = [sft_record(conv("What is a bond?", "A bond is a debt security that pays interest."), None, "en",
                       provenance("t", "t")),
            sft_record(conv("Revenue growth?", "WRONG: it grew 50%."), None, "en", provenance("t", "t")),
            sft_record(conv("Should I buy this fund?", "Yes, it offers guaranteed returns of 10% a year."), None, "en",
                       provenance("t", "t")),
            sft_record(conv("什么是债券？", "A bond is a debt security."), None, "zh", provenance("t", "t")),
            sft_record(conv("MALFORMED please", "Fine."), None, "en", provenance("t", "t"))]
    with store.writer("to-judge", kind="sft") as w:
        w.write(recs)
    return w.manifest.ref


def test_rules():
    assert guarantee_violations("We guarantee a 7% return on this product.")
    assert guarantee_violations("本产品保本保收益，稳赚不赔")
    assert not guarantee_violations("Returns are not guaranteed and you may lose money.")
    assert script_of("什么是债券？") == "zh" and script_of("What is a bond?") == "en"
    msgs = [{"role": "system", "content": "ask about risk tolerance"}, {"role": "user", "content": "Buy what?"},
            {"role": "assistant", "content": "I recommend our tech fund."}]
    assert check_dialogue(msgs) == ["recommends a product before discussing the client's risk profile"]


def test_judge_filter_thresholds_rules_and_scores(server, store, sft_version):
    rep = run({"generator": "judge_filter", "input": sft_version, "outputs": {"sft": "judged"},
               "thresholds": {"correctness": 4}}, store, endpoint=server.endpoint())
    s = rep.outputs["sft"]
    assert s["inputs"] == 5 == s["kept"] + sum(s["dropped"].values()) + s["quarantined"]
    assert s["kept"] == 1 and s["quarantined"] == 1
    assert s["dropped"] == {"judge_below:correctness": 1, "judge_below:compliance": 1,
                            "judge_below:language_match": 1}
    kept = next(store.iter_records(rep.manifests["sft"]))
    assert dict(kept["quality"]) == {"judge_correctness": 5.0, "judge_helpfulness": 5.0, "judge_compliance": 5.0,
                                     "judge_language_match": 5.0}
    assert json.loads(kept["meta"])["judge"]["request_hash"]
    q = store.read_quarantine(rep.manifests["sft"]).to_pylist()
    assert "judge_failed" in q[0]["reason"] and "maximum of 5" in q[0]["reason"]


def test_judge_is_cached_and_threshold_changes_cost_nothing(server, store, sft_version):
    run({"generator": "judge_filter", "input": sft_version, "outputs": {"sft": "j1"}}, store,
        endpoint=server.endpoint())
    n = server.n_requests
    rep = run({"generator": "judge_filter", "input": sft_version, "outputs": {"sft": "j2"},
               "thresholds": {"correctness": 2}}, store, endpoint=server.endpoint())
    assert server.n_requests == n
    assert rep.outputs["sft"]["kept"] == 2  # the WRONG answer now passes correctness at threshold 2


def test_judge_scorer_for_reward_specs(server):
    from synthesis.judge import judge_scorer
    from synthesis.teachers import TeacherClient

    judge = Judge(TeacherClient(server.endpoint()), get_rubrics(["correctness"]))
    scorer = judge_scorer(judge)
    assert scorer({"prompt": [{"role": "user", "content": "q"}]}, "fine answer").score == 1.0
    assert scorer({"prompt": []}, "WRONG answer").score == 0.25


def test_unknown_rubric():
    with pytest.raises(ValueError, match="unknown rubric"):
        get_rubrics(["vibes"])
