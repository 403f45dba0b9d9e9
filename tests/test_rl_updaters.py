"""The RL stage's DeepSpeed updater makes the same optimizer step as plain torch on the same samples.

A step's samples are split into micro-batches whose number varies from step to step, so the RL updater sets
DeepSpeed's accumulation boundary by hand. It used to set it *after* each backward, which DeepSpeed reads during
the backward: the update then did not add up the step's micro-batches (one Adam step on the demo's SFT model went
in a direction with cosine 0.3 to the right one, and every RL stage lowered held-out accuracy). Runs in a child
process because DeepSpeed initialises a process group."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from training.engine import child_env

CHECK = textwrap.dedent("""
    import json, os, sys
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from training.engine import build_engine, init_distributed
    from training.rl.step import RLConfig, deepspeed_updater, grpo_update, sample_and_score, torch_updater
    from training.rl.toy import build_toy_model, toy_records

    path = str(build_toy_model(sys.argv[1], seed=0))
    tok = AutoTokenizer.from_pretrained(path)
    torch.manual_seed(0)
    rc = RLConfig(group_size=8, prompts_per_step=8, max_new_tokens=1, update_micro_batch=64)
    samples, _, _ = sample_and_score(AutoModelForCausalLM.from_pretrained(path), tok, toy_records(8, seed=2), rc)
    cfg = {"lr": 1e-3, "weight_decay": 0.0, "min_lr_ratio": 1.0, "clip": 1.0, "warmup_steps": 0, "zero_stage": 2,
           "micro_batch": 4, "grad_accum": 1}

    def params_after(updater_for, micro):
        model = AutoModelForCausalLM.from_pretrained(path).train()
        up, module = updater_for(model)
        for _ in range(2):  # two steps: the second starts from the first one's boundary state
            m = grpo_update(module, tok, samples, RLConfig(**{**rc.__dict__, "update_micro_batch": micro}), up)
        return {n: p.detach().clone() for n, p in model.named_parameters()}, m["samples_trained"]

    def torch_up(model):
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.0)
        return torch_updater(model, opt), model

    def ds_up(model):
        engine, _ = build_engine(model, cfg, 10)
        return deepspeed_updater(engine), engine

    def norm(d):
        return float(sum((v.double() ** 2).sum() for v in d.values()) ** 0.5)

    init_distributed()
    start = {n: p.detach() for n, p in AutoModelForCausalLM.from_pretrained(path).named_parameters()}
    whole, n = params_after(torch_up, 1000)
    moved = norm({k: whole[k] - start[k] for k in whole})
    out = {"trained": n, "moved": moved}
    # Adam divides each gradient by its own scale, so a near-zero gradient summed in another order may flip its
    # step's sign: compare the update as a vector (relative distance), not element by element
    for name, up, micro in (("torch_micro", torch_up, 3), ("ds_one", ds_up, 1000), ("ds_micro", ds_up, 3)):
        got, _ = params_after(up, micro)
        out[name] = norm({k: got[k] - whole[k] for k in whole}) / moved
    print("RESULT " + json.dumps(out))
""")


def test_deepspeed_updater_with_micro_batches_equals_one_torch_step(tmp_path):
    env = {**child_env(), "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29561", "RANK": "0", "WORLD_SIZE": "1",
           "LOCAL_RANK": "0"}
    proc = subprocess.run([sys.executable, "-c", CHECK, str(tmp_path / "toy")], capture_output=True, text=True,
                          env=env, timeout=300)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
    assert line, proc.stdout[-2000:] + proc.stderr[-4000:]
    got = json.loads(line[len("RESULT "):])
    assert got["trained"] > 6  # more samples than one micro-batch of 3 holds
    assert got["moved"] > 1e-3  # the steps changed the weights
    assert got["ds_one"] < 1e-6, got  # one micro-batch: the same arithmetic
    for key in ("torch_micro", "ds_micro"):  # before the fix ds_micro was ~1.2: another direction altogether
        assert got[key] < 0.05, got
