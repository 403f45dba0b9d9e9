"""GRPO maths against hand-computed numbers: group advantages (None skipped), the DAPO token-mean clipped loss."""

from __future__ import annotations

import math

import pytest
import torch

from training.rl.grpo import clipped_token_loss, group_advantages, token_logprobs


def test_group_advantages_hand_computed_with_none_skipped():
    gs = group_advantages([1.0, 0.0, None, 1.0, 0.5, 0.5, 0.5, 0.5], group_size=4, eps=0.0)
    # group 1: scored {1, 0, 1}: mean 2/3, unbiased std sqrt(((1/3)^2*2 + (2/3)^2) / 2) = sqrt(1/3)
    std = math.sqrt(1 / 3)
    assert gs.advantages[:4] == pytest.approx([(1 / 3) / std, (-2 / 3) / std, 0.0, (1 / 3) / std])
    assert gs.advantages[0] == pytest.approx(0.57735, abs=1e-5)
    assert gs.advantages[1] == pytest.approx(-1.15470, abs=1e-5)
    assert gs.valid[:4] == [True, True, False, True]
    # group 2: identical rewards -> no signal, counted
    assert gs.advantages[4:] == [0.0] * 4 and gs.zero_std_groups == 1 and gs.skipped == 1 and gs.groups == 2


def test_none_is_not_zero():
    skipped = group_advantages([1.0, 0.0, None, 1.0], 4).advantages
    zeroed = group_advantages([1.0, 0.0, 0.0, 1.0], 4).advantages
    assert skipped[0] != pytest.approx(zeroed[0])  # a None would pull the baseline down if it counted as 0
    assert zeroed[2] < 0 and skipped[2] == 0.0


def test_group_with_one_scored_sample_is_invalid():
    gs = group_advantages([None, None, 1.0, None], 4)
    assert gs.valid == [False] * 4 and gs.advantages == [0.0] * 4


def test_scale_none_keeps_mean_baseline_only():
    gs = group_advantages([1.0, 0.0, 0.0, 0.0], 4, scale="none")
    assert gs.advantages == pytest.approx([0.75, -0.25, -0.25, -0.25])


def test_bad_group_size():
    with pytest.raises(ValueError):
        group_advantages([1.0, 0.0, 1.0], 2)


def _case():
    ratios = torch.tensor([[1.5, 0.5], [1.5, 0.5]])
    logp = torch.log(ratios).requires_grad_(True)
    old = torch.zeros(2, 2)
    adv = torch.tensor([1.0, -1.0])
    mask = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    return logp, old, adv, mask


def test_clipped_token_loss_hand_computed():
    logp, old, adv, mask = _case()
    loss, st = clipped_token_loss(logp, old, adv, mask, eps_low=0.2, eps_high=0.28)
    # (A=+1, r=1.5): max(-1.5, -1.28) = -1.28 (clip-high taken); (A=+1, r=0.5): max(-0.5, -0.8) = -0.5;
    # (A=-1, r=1.5): max(1.5, 1.28) = 1.5; masked token ignored. Token mean over 3 tokens.
    assert float(loss.detach()) == pytest.approx((-1.28 - 0.5 + 1.5) / 3, abs=1e-6)
    assert st.tokens == 3 and st.clip_fraction == pytest.approx(1 / 3)
    assert st.clip_high_fraction == pytest.approx(1 / 3) and st.clip_low_fraction == 0.0
    loss.backward()
    # d loss / d logp = -A * r / N where unclipped, 0 where clipped or masked
    assert logp.grad.flatten().tolist() == pytest.approx([0.0, -0.5 / 3, 1.5 / 3, 0.0], abs=1e-6)


def test_clip_low_branch_and_token_mean_normaliser():
    logp = torch.log(torch.tensor([[0.5]])).requires_grad_(True)
    loss, st = clipped_token_loss(logp, torch.zeros(1, 1), torch.tensor([-2.0]), torch.ones(1, 1),
                                  eps_low=0.2, eps_high=0.28, num_tokens=4)
    # A=-2, r=0.5: max(1.0, 2*0.8=1.6) = 1.6 (clip-low taken); divided by the step's 4 tokens
    assert float(loss.detach()) == pytest.approx(1.6 / 4) and st.clip_low_fraction == 1.0


def test_kl_term_k3():
    logp = torch.zeros(1, 1, requires_grad=True)
    ref = torch.full((1, 1), 0.5)
    loss, st = clipped_token_loss(logp, torch.zeros(1, 1), torch.tensor([0.0]), torch.ones(1, 1), ref_logp=ref,
                                  kl_coef=0.1)
    assert st.kl == pytest.approx(math.exp(0.5) - 0.5 - 1)
    assert float(loss.detach()) == pytest.approx(0.1 * (math.exp(0.5) - 1.5))
    loss0, st0 = clipped_token_loss(logp, torch.zeros(1, 1), torch.tensor([0.0]), torch.ones(1, 1), ref_logp=ref)
    assert float(loss0.detach()) == 0.0 and st0.kl is None  # KL off by default


def test_token_logprobs_matches_log_softmax():
    torch.manual_seed(0)
    logits = torch.randn(2, 5, 7)
    ids = torch.randint(0, 7, (2, 5))
    got = token_logprobs(logits, ids, temperature=0.7)
    ref = torch.log_softmax(logits[:, :-1] / 0.7, -1).gather(2, ids[:, 1:, None]).squeeze(-1)
    assert torch.allclose(got, ref, atol=1e-6)


@pytest.mark.parametrize("weight, expected", [
    (1.0, [0.75, -0.25, -0.25, -0.25]),  # GRPO
    (0.2, [0.75, -0.05, -0.05, -0.05]),
    (0.0, [0.75, 0.0, 0.0, 0.0]),  # only the success is reinforced
])
def test_negative_weight_scales_only_below_mean_advantages(weight, expected):
    gs = group_advantages([1.0, 0.0, 0.0, 0.0], 4, scale="none", negative_weight=weight)
    assert gs.advantages == pytest.approx(expected)
    # std-scaled: the positive advantage is the same whatever the weight
    assert group_advantages([1.0, 0.0, 0.0, 0.0], 4, negative_weight=weight).advantages[0] == pytest.approx(
        group_advantages([1.0, 0.0, 0.0, 0.0], 4).advantages[0])


@pytest.mark.parametrize("weight", [-0.1, 1.5])
def test_negative_weight_out_of_range(weight):
    with pytest.raises(ValueError, match="negative_weight"):
        group_advantages([1.0, 0.0], 2, negative_weight=weight)
