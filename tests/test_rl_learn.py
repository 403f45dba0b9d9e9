"""A tiny random-init model learns the toy verifiable task with GRPO on CPU: mean reward rises clearly.

If the policy-gradient sign were flipped (or advantages mis-assigned to samples) the reward would fall towards 0
instead and this test fails."""

from __future__ import annotations

import torch

from training.rl.step import RLConfig, grpo_step, torch_updater
from training.rl.toy import build_toy_model, toy_records


def test_toy_task_reward_rises(tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = build_toy_model(tmp_path / "toy", seed=0)
    tok = AutoTokenizer.from_pretrained(str(path))
    model = AutoModelForCausalLM.from_pretrained(str(path))
    torch.manual_seed(0)
    records = toy_records(320, seed=1)
    rc = RLConfig(group_size=8, prompts_per_step=8, max_new_tokens=1, update_micro_batch=32)
    up = torch_updater(model, torch.optim.AdamW(model.parameters(), lr=3e-3))
    rewards = []
    for step in range(40):
        res = grpo_step(model, tok, records[step * 8:(step + 1) * 8], rc, up)
        rewards.append(res.metrics["reward_mean"])
        assert res.metrics["t_generate"] > 0 and res.metrics["rollout_tokens"] == 64
    first, last = sum(rewards[:5]) / 5, sum(rewards[-5:]) / 5
    assert first < 0.25, rewards  # a random policy over ~20 tokens rarely copies the letter
    assert last > 0.6 and last > first + 0.4, rewards


def test_padded_window_logprobs_equal_unpadded(tmp_path):
    """Left-padded prompts + right-padded completions, position ids from the mask and logits only over the
    completion window give the same log-probs as each sequence run alone."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from training.rl.grpo import token_logprobs
    from training.rl.rollout import Sample, pad_samples, sequence_logprobs

    path = build_toy_model(tmp_path / "toy", seed=1)
    tok = AutoTokenizer.from_pretrained(str(path))
    model = AutoModelForCausalLM.from_pretrained(str(path)).eval()
    samples = [Sample(0, [5, 6, 7, 8, 9, 10], [0, 0, 0, 1, 1, 1], 3),
               Sample(0, [5, 6, 7, 8, 9, 11, 12, 13, 14], [0, 0, 0, 0, 0, 1, 0, 1, 1], 5),
               Sample(1, [7, 8, 9], [0, 0, 1], 2)]
    b = pad_samples(samples, tok.pad_token_id)
    assert b.prompt_width == 5 and b.mask.shape == (3, 4)
    with torch.no_grad():
        got = sequence_logprobs(model, b)
        for i, s in enumerate(samples):
            ids = torch.tensor([s.ids])
            ref = token_logprobs(model(input_ids=ids).logits, ids)[0, s.prompt_len - 1:]
            n = len(s.ids) - s.prompt_len
            assert torch.allclose(got[i, :n], ref, atol=1e-5), i
            assert b.mask[i, :n].tolist() == [float(x) for x in s.mask[s.prompt_len:]]
            assert b.mask[i, n:].sum() == 0


def test_prompt_too_long_is_skipped_not_cut(tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = build_toy_model(tmp_path / "toy", seed=2)
    tok = AutoTokenizer.from_pretrained(str(path))
    model = AutoModelForCausalLM.from_pretrained(str(path))
    recs = toy_records(2, seed=4)
    recs[1] = dict(recs[1], prompt=[{"role": "user", "content": "copy the letter : " + "A " * 80 + "B"}])
    rc = RLConfig(group_size=4, max_new_tokens=1, max_total_tokens=40)
    res = grpo_step(model, tok, recs, rc, torch_updater(model, torch.optim.SGD(model.parameters(), lr=0.1)))
    long_ = [s for s in res.samples if s.prompt_index == 1]
    assert all(s.skipped == "prompt_too_long" and s.reward is None and s.completion_tokens == 0 for s in long_)
    assert all(s.reward is not None and s.completion_tokens == 1 for s in res.samples if s.prompt_index == 0)
    assert res.metrics["samples_skipped"] == 4 and res.metrics["reward_none"] == 4


def test_negative_weight_zero_trains_only_on_successes(tmp_path):
    """With ``negative_weight=0`` the update sees only the above-mean samples (a failed sample's tokens get no
    gradient), and one small SGD step raises the successes' log-probability."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from training.rl.grpo import group_advantages
    from training.rl.rollout import pad_samples, sequence_logprobs
    from training.rl.step import grpo_update, sample_and_score

    path = build_toy_model(tmp_path / "toy", seed=0)
    tok = AutoTokenizer.from_pretrained(str(path))
    model = AutoModelForCausalLM.from_pretrained(str(path))
    torch.manual_seed(0)
    rc = RLConfig(group_size=16, prompts_per_step=8, max_new_tokens=1, update_micro_batch=64, negative_weight=0.0)
    samples, _, _ = sample_and_score(model, tok, toy_records(8, seed=2), rc)
    adv = group_advantages([s.reward for s in samples], rc.group_size).advantages
    assert any(a > 0 for a in adv) and any(a < 0 for a in adv)
    b = pad_samples(samples, tok.pad_token_id)

    def seq_logp():
        with torch.no_grad():
            return (sequence_logprobs(model.eval(), b) * b.mask).sum(1)

    before = seq_logp()
    m = grpo_update(model.train(), tok, samples, rc, torch_updater(model, torch.optim.SGD(model.parameters(), lr=0.01),
                                                                   clip=None))
    assert m["samples_trained"] == sum(a > 0 for a in adv)
    rose = (seq_logp() - before)[torch.tensor([a > 0 for a in adv])]
    # first order: the successes' log-probability rises on the whole (one may fall through shared weights)
    assert float(rose.mean()) > 0 and float((rose > 0).float().mean()) >= 0.75, rose
