"""Agentic rollouts: tool calls parsed from the chat template's format, executed in an environment, tool output
appended with loss mask 0 (checked token by token), turn limit, reward from the environment."""

from __future__ import annotations

import json

import pytest
import torch

from training.rl.agentic import agentic_rollouts, parse_tool_calls
from training.rl.rollout import GenConfig, render_prompt

TEXT = ("The company reported revenue of 1,234 million and net income of 56 million. Operating margin rose. "
        "Use the calculator tool to compute the answer. 答案 计算 收入 利润 ") * 40
TOOLS = [{"type": "function", "function": {"name": "calc", "description": "add two numbers",
                                           "parameters": {"type": "object",
                                                          "properties": {"expression": {"type": "string"}}}}}]


@pytest.fixture(scope="module")
def tok(tmp_path_factory):
    from transformers import AutoTokenizer

    from training.tiny import train_tokenizer

    d = train_tokenizer([TEXT], tmp_path_factory.mktemp("tok"), vocab_size=400)
    return AutoTokenizer.from_pretrained(str(d))


class CalcEnv:
    """A minimal environment with the synthesis/envs API: reset(task), step(tool_call), reward(trajectory)."""

    def __init__(self) -> None:
        self.steps: list[dict] = []

    def reset(self, task):
        self.task = task
        return "ready"

    def step(self, call):
        self.steps.append(call)
        args = json.loads(call["arguments"])
        a, b = args["expression"].split("+")
        return f"RESULT {float(a) + float(b):g} OK"

    def reward(self, trajectory):
        from synthesis.rewards import score

        final = [m for m in trajectory if m["role"] == "assistant"][-1]["content"]
        return score({"spec_version": 1, "type": "numeric", "answer": "5"}, final)


class ScriptedPolicy:
    """Stands in for the model: the k-th ``generate`` call appends ``script[k]`` to every row."""

    training = False

    def __init__(self, tok, script: list[str]) -> None:
        self.ids = [tok(s, add_special_tokens=False)["input_ids"] for s in script]
        self.calls = 0

    def eval(self):
        return self

    def train(self, mode=True):
        return self

    def generate(self, input_ids, attention_mask, max_new_tokens, pad_token_id, **kw):
        new = self.ids[min(self.calls, len(self.ids) - 1)][:max_new_tokens]
        self.calls += 1
        return torch.cat([input_ids, torch.tensor([new] * input_ids.shape[0])], dim=1)


CALL = '<tool_call>{"name": "calc", "arguments": {"expression": "2+3"}}</tool_call><|im_end|>'
FINAL = "The sum is \\boxed{5}<|im_end|>"


def _record():
    return {"id": "t1", "prompt": [{"role": "user", "content": "What is 2+3? Use the tool."}],
            "tools": json.dumps(TOOLS), "reward_spec": json.dumps({"spec_version": 1, "type": "tool_env"})}


def test_tool_output_tokens_are_masked_token_by_token(tok):
    rec = _record()
    envs: list[CalcEnv] = []

    def make_env(r):
        envs.append(CalcEnv())
        return envs[-1]

    policy = ScriptedPolicy(tok, [CALL, FINAL])
    samples = agentic_rollouts(policy, tok, [rec], 2, GenConfig(max_new_tokens=200, max_turns=4), make_env)
    assert len(samples) == 2
    s = samples[0]
    prompt = render_prompt(tok, rec["prompt"], rec["tools"])
    call_ids = tok(CALL, add_special_tokens=False)["input_ids"]
    final_ids = tok(FINAL, add_special_tokens=False)["input_ids"]
    assert s.ids[:len(prompt)] == prompt and s.prompt_len == len(prompt)
    a = len(prompt)
    b = a + len(call_ids)
    assert s.ids[a:b] == call_ids
    assert s.ids[-len(final_ids):] == final_ids
    glue = s.ids[b:len(s.ids) - len(final_ids)]
    # token by token: prompt 0, policy turn 1, environment turn 0, policy turn 1
    expected = [0] * len(prompt) + [1] * len(call_ids) + [0] * len(glue) + [1] * len(final_ids)
    assert s.mask == expected
    env_text = tok.decode(glue)
    assert "RESULT 5 OK" in env_text and "<|im_start|>tool" in env_text and env_text.endswith("<|im_start|>assistant\n")
    for i, m in enumerate(s.mask):  # no token of the tool output carries loss
        if i >= b and i < len(s.ids) - len(final_ids):
            assert m == 0, i
    # the token stream is exactly what the chat template renders for the whole conversation
    convo = [{"role": "user", "content": "What is 2+3? Use the tool."}] + s.messages
    from finance.messages import template_messages

    rendered = tok.apply_chat_template(template_messages(convo), tools=TOOLS, tokenize=False)
    assert tok.decode(s.ids) + "\n" == rendered
    assert s.turns == 2 and s.tool_calls == 1 and s.invalid_tool_calls == 0
    assert s.reward == 1.0 and envs[0].steps[0]["name"] == "calc"
    assert s.completion_tokens == len(call_ids) + len(final_ids)


def test_turn_limit_stops_the_episode(tok):
    rec = _record()
    envs: list[CalcEnv] = []

    def make_env(r):
        envs.append(CalcEnv())
        return envs[-1]

    policy = ScriptedPolicy(tok, [CALL])  # calls the tool forever
    samples = agentic_rollouts(policy, tok, [rec], 1, GenConfig(max_new_tokens=200, max_turns=3), make_env)
    s = samples[0]
    assert s.turns == 3 and len(envs[0].steps) == 2  # the last turn's call is not executed
    assert s.reward == 0.0  # never gave a final answer
    assert sum(s.mask) == 3 * len(tok(CALL, add_special_tokens=False)["input_ids"])


def test_parse_tool_calls_untrusted_text():
    content, calls, invalid = parse_tool_calls(
        'let me check <tool_call>{"name": "sql", "arguments": {"q": "select 1"}}</tool_call>'
        "<tool_call>{not json}</tool_call><tool_call>{\"arguments\": {}}</tool_call>"
        '<tool_call>{"name": "calc", "arguments": "{\\"expression\\": \\"1+1\\"}"}</tool_call>')
    assert content == "let me check"
    assert calls == [{"name": "sql", "arguments": '{"q": "select 1"}'},
                     {"name": "calc", "arguments": '{"expression": "1+1"}'}]
    assert invalid == 2
    many = "".join('<tool_call>{"name": "f", "arguments": {}}</tool_call>' for _ in range(20))
    _, calls, invalid = parse_tool_calls(many)
    assert len(calls) == 8 and invalid == 12
    assert parse_tool_calls("no calls here") == ("no calls here", [], 0)


def test_rollout_in_synthesis_envs_calculator(tok):
    """The real environment of synthesis/envs: calculator tool, tool_env reward replayed from the trajectory."""
    envs_mod = pytest.importorskip("synthesis.envs")
    from training.rl.envs import env_factory

    spec = envs_mod.tool_env_spec({"spec_version": 1, "type": "numeric", "answer": "5"}, ["calculator"])
    rec = {"id": "t2", "prompt": [{"role": "user", "content": "What is 2+3? Use the calculator."}],
           "tools": None, "env": json.dumps({"tools": ["calculator"]}), "reward_spec": json.dumps(spec)}
    good = '<tool_call>{"name": "calculator", "arguments": {"expression": "2+3"}}</tool_call><|im_end|>'
    bad = '<tool_call>{"name": "calculator", "arguments": {"expression": "import os"}}</tool_call><|im_end|>'
    cfg = GenConfig(max_new_tokens=200, max_turns=3)
    ok = agentic_rollouts(ScriptedPolicy(tok, [good, FINAL]), tok, [rec], 1, cfg, env_factory({}))[0]
    assert ok.reward == pytest.approx(1.0) and ok.tool_calls == 1
    tool_msg = [m for m in ok.messages if m["role"] == "tool"][0]
    assert json.loads(tool_msg["content"]) == {"ok": True, "result": "5"}
    # the tool schemas come from the environment when the record has none, and are in the prompt
    assert '"name": "calculator"' in tok.decode(ok.ids[:ok.prompt_len])
    masked_text = tok.decode([t for t, m in zip(ok.ids[ok.prompt_len:], ok.mask[ok.prompt_len:], strict=True)
                              if m == 0])
    assert '"result": "5"' in masked_text
    policy_text = tok.decode([t for t, m in zip(ok.ids, ok.mask, strict=True) if m == 1])
    assert "result" not in policy_text
    hostile = agentic_rollouts(ScriptedPolicy(tok, [bad, FINAL]), tok, [rec], 1, cfg, env_factory({}))[0]
    assert hostile.reward < ok.reward  # the invalid (refused) call is penalised, the answer still counts
