"""General-RL rewards: the one judge (synthesis.judge) through the teacher client (real local OpenAI-compatible
server, cached),
an HF sequence-classification reward model, and routing by reward-spec type with None skipped."""

from __future__ import annotations

import json

import pytest

from training.rl.rewards import JudgeReward, judge_from_endpoint, score_samples
from training.rl.rollout import Sample


def _rec(spec: dict, q: str = "Explain what a bond's duration measures.") -> dict:
    return {"id": q[:8], "prompt": [{"role": "user", "content": q}], "reward_spec": json.dumps(spec)}


def _sample(i: int, text: str) -> Sample:
    return Sample(i, [1, 2], [0, 1], 1, text)


JUDGE = {"spec_version": 1, "type": "judge", "rubric": "correctness and compliance", "reference": "rate sensitivity"}


def test_judge_through_teacher_client_is_cached(tmp_path):
    from synthesis.testing import FakeOpenAIServer, Scripted

    def responder(body):
        user = body["messages"][-1]["content"]
        answer = user.split("ASSISTANT:", 1)[1].split(">>>", 1)[0]  # not the reference after it
        names = list(body["response_format"]["json_schema"]["schema"]["properties"]["scores"]["properties"])
        return Scripted(json.dumps({"scores": {n: 5 if "sensitivity" in answer else 2 for n in names},
                                    "rationale": "x"}))

    with FakeOpenAIServer(responder) as srv:
        judge = judge_from_endpoint(srv.endpoint(), tmp_path / "judge.sqlite")
        assert isinstance(judge, JudgeReward)
        recs = [_rec(JUDGE)]
        samples = [_sample(0, "Duration is the price sensitivity to rates."), _sample(0, "It is a colour.")]
        judge(recs, samples)
        assert [s.reward for s in samples] == [pytest.approx(1.0), pytest.approx(0.25)]  # 1–5 on [0, 1]
        n = srv.n_requests
        assert n == 2
        again = [_sample(0, "Duration is the price sensitivity to rates."), _sample(0, "It is a colour.")]
        judge(recs, again)  # the same judge requests: answered from the request cache
        assert srv.n_requests == n and [s.reward for s in again] == [s.reward for s in samples]
        # the judge prompt carries rubric, question, reference and the answer
        body = json.loads(srv.bodies[0])
        user = body["messages"][-1]["content"]
        assert "correctness and compliance" in user and "bond's duration" in user and "rate sensitivity" in user
        assert body["temperature"] == 0.0


def test_spec_rubrics():
    from synthesis.judge import spec_rubrics

    assert spec_rubrics({}) is None
    assert [r.name for r in spec_rubrics({"rubric": "correctness, compliance"})] == ["correctness", "compliance"]
    (free,) = spec_rubrics({"rubric": "correct, helpful, compliant"})
    assert free.name == "overall" and "correct, helpful, compliant" in free.question


def test_routing_and_none_without_endpoint():
    recs = [_rec({"spec_version": 1, "type": "numeric", "answer": "12.5", "unit": "percent"}, "growth?"), _rec(JUDGE)]
    samples = [_sample(0, "\\boxed{12.5\\%}"), _sample(0, "\\boxed{13}"), _sample(1, "anything"), _sample(1, "x")]
    score_samples(recs, samples)
    assert [s.reward for s in samples[:2]] == [1.0, 0.0]
    assert samples[2].reward is None and "needs an endpoint" in samples[2].reward_reason  # skipped, not 0


def test_none_rewards_are_not_trained(tmp_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from training.rl.step import RLConfig, grpo_step, torch_updater
    from training.rl.toy import build_toy_model, toy_records

    path = build_toy_model(tmp_path / "m")
    tok, model = AutoTokenizer.from_pretrained(str(path)), AutoModelForCausalLM.from_pretrained(str(path))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    torch.manual_seed(0)
    recs = [dict(r, reward_spec=json.dumps(JUDGE)) for r in toy_records(2)]
    res = grpo_step(model, tok, recs, RLConfig(group_size=4, max_new_tokens=2),
                    torch_updater(model, torch.optim.SGD(model.parameters(), lr=1.0)))
    assert res.metrics["reward_mean"] is None and res.metrics["reward_none"] == 8
    assert res.metrics["samples_trained"] == 0
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # no update from None rewards


def test_reward_model_sequence_classification(tmp_path):
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForSequenceClassification

    from training.rl.rewards import RewardModel
    from training.rl.toy import build_toy_tokenizer

    tok_dir = build_toy_tokenizer(tmp_path / "rm")
    tok = AutoTokenizer.from_pretrained(str(tok_dir))
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                      num_attention_heads=2, num_key_value_heads=2, num_labels=1, pad_token_id=tok.pad_token_id)
    LlamaForSequenceClassification(cfg).save_pretrained(tmp_path / "rm")
    rm = RewardModel(tmp_path / "rm")
    recs = [_rec(JUDGE, "copy the letter : A")]
    samples = [_sample(0, "A"), _sample(0, "B"), _sample(0, "A")]
    rm(recs, samples)
    r = [s.reward for s in samples]
    assert all(0.0 < x < 1.0 for x in r) and r[0] == pytest.approx(r[2]) and r[0] != r[1]
    enc = rm.tok([rm.text(recs[0], "A")], return_tensors="pt")
    with torch.no_grad():
        logit = rm.model(**enc).logits[0, 0]
    assert r[0] == pytest.approx(float(torch.sigmoid(logit)), abs=1e-6)
    # routed: a judge spec goes to the reward model when one is given
    more = [_sample(0, "A")]
    score_samples(recs, more, reward_model=rm)
    assert more[0].reward == pytest.approx(r[0]) and more[0].reward_reason == "reward_model"
