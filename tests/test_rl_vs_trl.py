"""Our GRPO update against TRL's ``GRPOTrainer`` (independent truth, a library that does the same job): on the same
batch (one prompt, eight completions of different lengths, fixed advantages, behaviour log-probs from another
model so that the ratio is not 1 and clipping is active, sampling temperature 0.7) our DAPO token-mean clipped loss
(``training.rl.grpo``, with ``rollout.pad_samples`` / ``forward_logits``) and its gradient equal TRL's
``_compute_loss`` with ``loss_type="dapo"``, without and with the k3 KL term (as the GRPO paper writes it: TRL 1.16
multiplies it by the importance ratio by default, ``use_bias_correction_kl``, switched off here). Runs in a child process so that no
torch.distributed state of another test reaches TRL's Trainer."""

from __future__ import annotations

from pathlib import Path

import pytest

T, EPS_LOW, EPS_HIGH = 0.7, 0.2, 0.28


def compare(work: str) -> list[dict]:
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    from training.rl.grpo import clipped_token_loss, token_logprobs
    from training.rl.rollout import Sample, forward_logits, pad_samples
    from training.tiny import build_tiny_model, train_tokenizer

    w = Path(work)
    tok_dir = train_tokenizer([f"What is {a} plus {b}? The answer is {a + b}." for a in range(10, 60) for b in range(3)],
                              w / "tok", vocab_size=400)
    dirs = [build_tiny_model(tok_dir, w / f"m{s}", seed=s) for s in (0, 1, 2)]  # policy, behaviour, reference
    tok = AutoTokenizer.from_pretrained(str(dirs[0]))
    g = torch.Generator().manual_seed(0)
    prompt = tok("What is 12 plus 30?")["input_ids"]  # one prompt: no left padding (TRL's forward has no position ids)
    comps = [torch.randint(5, len(tok), (int(torch.randint(3, 9, (1,), generator=g)),), generator=g).tolist()
             for _ in range(8)]
    adv = torch.tensor([1.2, -0.5, 0.3, -1.0, 0.8, -0.2, 0.0, 0.4])
    b = pad_samples([Sample(0, prompt + c, [0] * len(prompt) + [1] * len(c), len(prompt)) for c in comps],
                    tok.pad_token_id)
    with torch.no_grad():
        old, ref = (token_logprobs(forward_logits(AutoModelForCausalLM.from_pretrained(str(d)), b), b.ids, T)
                    for d in dirs[1:])
    n = float(b.mask.sum())
    out = []
    for kl in (0.0, 0.05):
        pol = AutoModelForCausalLM.from_pretrained(str(dirs[0]))
        loss, st = clipped_token_loss(token_logprobs(forward_logits(pol, b), b.ids, T), old, adv, b.mask, EPS_LOW,
                                      EPS_HIGH, ref if kl else None, kl, num_tokens=n)
        loss.backward()
        ours = torch.cat([p.grad.flatten() for p in pol.parameters()])
        cfg = GRPOConfig(output_dir=str(w / "trl"), use_cpu=True, per_device_train_batch_size=8, num_generations=8,
                         loss_type="dapo", epsilon=EPS_LOW, epsilon_high=EPS_HIGH, beta=kl, temperature=T,
                         report_to="none", max_completion_length=16, bf16=False,
                         use_bias_correction_kl=False)  # ours is GRPO's k3 KL; TRL 1.16 weights it by the ratio by default
        tr = GRPOTrainer(model=AutoModelForCausalLM.from_pretrained(str(dirs[0])), args=cfg, processing_class=tok,
                         reward_funcs=lambda **kw: [0.0] * len(kw["completions"]),
                         train_dataset=Dataset.from_list([{"prompt": "x"}] * 8))
        inputs = {"prompt_ids": b.ids[:, :b.prompt_width], "prompt_mask": b.att[:, :b.prompt_width],
                  "completion_ids": b.ids[:, b.prompt_width:], "completion_mask": b.mask.long(), "advantages": adv,
                  "old_per_token_logps": old, "ref_per_token_logps": ref, "num_items_in_batch": torch.tensor(n)}
        tr.model.eval()  # the loss's normaliser is then the batch's tokens, as ours (no accumulation window)
        theirs_loss = tr._compute_loss(tr.model, inputs)
        theirs_loss.backward()
        theirs = torch.cat([p.grad.flatten() for p in tr.model.parameters()])
        out.append({"kl": kl, "ours": float(loss), "trl": float(theirs_loss), "clip_fraction": st.clip_fraction,
                    "grad_rel_diff": float((ours - theirs).norm() / theirs.norm())})
    return out


def test_our_grpo_loss_and_gradient_match_trl(tmp_path, in_child):
    pytest.importorskip("trl", reason="trl is not installed (pip install -e '.[dev]', as make setup does)")
    for c in in_child("test_rl_vs_trl", "compare", str(tmp_path)):
        assert c["clip_fraction"] > 0.05, c  # the clipped branch is exercised, not only ratio 1
        assert c["ours"] == pytest.approx(c["trl"], rel=1e-5, abs=1e-7), c
        assert c["grad_rel_diff"] < 1e-5, c
