"""The LR multiplier: cosine by default, warmup–stable–decay with ``decay_fraction``; checked against torch's own
schedulers (LinearLR / ConstantLR chained by SequentialLR), a second implementation of the same shape."""

from __future__ import annotations

import pytest
import torch

from training.engine import lr_lambda


def _torch_wsd(warmup: int, total: int, min_ratio: float, decay_steps: int) -> list[float]:
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    stable = total - warmup - decay_steps
    sched = torch.optim.lr_scheduler.SequentialLR(opt, [
        torch.optim.lr_scheduler.LinearLR(opt, 1 / warmup, 1.0, total_iters=warmup - 1),
        torch.optim.lr_scheduler.ConstantLR(opt, 1.0, total_iters=stable),
        torch.optim.lr_scheduler.LinearLR(opt, 1.0, min_ratio, total_iters=decay_steps)], [warmup, warmup + stable])
    out = []
    for _ in range(total + 3):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_warmup_stable_decay_matches_torch_schedulers():
    warmup, total, min_ratio = 5, 40, 0.1
    f = lr_lambda(warmup, total, min_ratio, decay_fraction=0.25)  # the last round(0.25 × 35) = 9 steps decay
    ours = [f(k) for k in range(total + 3)]
    assert ours == pytest.approx(_torch_wsd(warmup, total, min_ratio, 9))
    assert ours[warmup:31] == [1.0] * 26 and ours[total] == pytest.approx(min_ratio) and ours[-1] == ours[total]
    cosine = lr_lambda(warmup, total, min_ratio)  # without decay_fraction the schedule is the cosine it was
    assert cosine(warmup) == 1.0 and cosine(22) == pytest.approx(min_ratio + (1 - min_ratio) * 0.5 * (
        1 + torch.cos(torch.tensor(torch.pi * 17 / 35)).item())) and cosine(total) == pytest.approx(min_ratio)
    assert sum(ours[:total]) > sum(cosine(k) for k in range(total))  # WSD spends more LR before the end
    whole = lr_lambda(0, 10, 0.0, decay_fraction=1.0)  # no warmup, all decay: a straight line to 0
    assert [whole(k) for k in range(11)] == pytest.approx([1 - k / 10 for k in range(11)])


def test_decay_fraction_out_of_range_is_refused():
    from training.plan import PlanError
    from training.stages import check_config

    for bad in (0, 1.5, "0.3", True):
        with pytest.raises(PlanError, match=r"stage sft: decay_fraction must be a number in \(0, 1\]"):
            check_config("sft", {"decay_fraction": bad})
    with pytest.raises(PlanError, match="decay_fraction 0.3 has no effect with min_lr_ratio 1.0"):
        check_config("reasoning_rl", {"decay_fraction": 0.3, "min_lr_ratio": 1.0})  # RL's constant LR
    check_config("sft", {"decay_fraction": 1.0})
    check_config("sft", {"decay_fraction": None})
