"""Inputs shared by the sampling generators: one task filter for rejection sampling and on-policy pairs, and one
check of an input version's kind (``RunContext.input_manifest``), also for generators that read two kinds."""

from __future__ import annotations

from collections import Counter

import pytest

from synthesis.generators import run
from synthesis.generators.context import SynthRecipeError
from synthesis.generators.records import provenance, rl_record, sft_record
from synthesis.generators.runner import EmptyRun
from synthesis.generators.specs import verifiable_tasks
from synthesis.testing import FakeOpenAIServer

NUMERIC = {"spec_version": 1, "type": "numeric", "answer": 3}
TOOL = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}}}]


def _task(q: str, spec: dict, tools: list | None = None) -> dict:
    return rl_record([{"role": "user", "content": q}], spec, None, "en", provenance("test", "t"), tools=tools)


class Counted:
    def __init__(self) -> None:
        self.inputs, self.drops = 0, Counter()

    def consider(self, n: int = 1) -> None:
        self.inputs += n

    def drop(self, reason: str, n: int = 1) -> None:
        self.drops[reason] += n


@pytest.mark.parametrize(("spec", "tools", "kept", "reason"), [
    (NUMERIC, None, True, None),
    ({"spec_version": 1, "type": "choice", "answer": "B", "choices": ["A", "B"]}, None, True, None),
    ({"spec_version": 1, "type": "exact", "answer": "Yes"}, None, True, None),
    ({"spec_version": 1, "type": "set", "answer": ["x", "y"]}, None, True, None),
    ({"spec_version": 1, "type": "judge"}, None, False, "not_verifiable:judge"),
    (NUMERIC, TOOL, False, "needs_tools"),  # agentic: solved through its environment, not sampled here
])
def test_verifiable_tasks_table(spec, tools, kept, reason):
    out = Counted()
    got = verifiable_tasks([_task("What is 1 plus 2?", spec, tools)], out, None)
    assert (len(got) == 1) is kept and out.inputs == 1
    assert out.drops == (Counter() if kept else Counter({reason: 1}))


def test_verifiable_tasks_limit_counts_only_what_it_looked_at():
    recs = [_task(f"q{i}", NUMERIC) for i in range(5)]
    out = Counted()
    assert [r["prompt"][0]["content"] for r in verifiable_tasks(recs, out, 2)] == ["q0", "q1"] and out.inputs == 2


def test_rejection_and_onpolicy_drop_the_same_tasks(store, tmp_path):
    """The same rl version: both generators drop the same tasks for the same reasons (one filter, no drift)."""
    with store.writer("mixed", kind="rl") as w:
        w.write([_task("Judge me", {"spec_version": 1, "type": "judge"}), _task("Use the tool", NUMERIC, TOOL)])
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "config.json").write_text("{}")  # no task survives the filter, so no model is loaded
    with pytest.raises(EmptyRun) as onp:
        run("onpolicy_pairs", store, overrides={"tasks": w.manifest.ref, "model": str(tmp_path / "m"),
                                                "outputs": {"pref": "onp-mixed"}})
    with FakeOpenAIServer() as srv, pytest.raises(EmptyRun) as rej:
        run("rejection_sampling", store, endpoint=srv.endpoint(), overrides={
            "tasks": w.manifest.ref, "outputs": {"sft": "rej-sft", "rl": "rej-rl", "pref": "rej-pref"}})
    assert srv.n_requests == 0
    want = "2 inputs, 0 kept (not_verifiable:judge ×1, needs_tools ×1)"
    assert f"pref: {want}" in str(onp.value) and f"rl: {want}" in str(rej.value)


def test_judge_pairs_reads_an_rl_or_sft_version_through_input_manifest(store):
    with store.writer("docs", kind="doc") as w:
        w.write([{"text": "a filing", "source": "t", "url": "", "lang": "en"}])
    with FakeOpenAIServer() as srv:
        with pytest.raises(SynthRecipeError, match=r"reads a rl or sft version as 'prompts', docs@1 is 'doc'"):
            run("judge_pairs", store, endpoint=srv.endpoint(), overrides={"prompts": w.manifest.ref,
                                                                         "outputs": {"pref": "jp"}})
        with pytest.raises(SynthRecipeError, match=r"needs 'prompts: NAME@N' \(a catalog rl or sft version\)"):
            run({"generator": "judge_pairs", "outputs": {"pref": "jp"}}, store, endpoint=srv.endpoint())
        assert srv.n_requests == 0
    convs = [sft_record([{"role": "user", "content": "Explain duration."}, {"role": "assistant", "content": "x"}],
                        None, "en", provenance("test", "t"))]
    with store.writer("convs", kind="sft") as w2:
        w2.write(convs)
    with FakeOpenAIServer() as srv, pytest.raises(EmptyRun, match=r"pref: 1 inputs"):  # read, then answered
        run("judge_pairs", store, endpoint=srv.endpoint(), overrides={  # the same text k times: no pair, but read
            "prompts": w2.manifest.ref, "rubrics": ["helpfulness"], "outputs": {"pref": "jp"}})


def test_agentic_sft_names_the_version_and_the_kind_it_reads(store):
    """An sft version given as agentic_sft's tasks: one clear error before any request, not a KeyError."""
    convs = [sft_record([{"role": "user", "content": "Explain duration."}, {"role": "assistant", "content": "x"}],
                        None, "en", provenance("test", "t"))]
    with store.writer("convs", kind="sft") as w:
        w.write(convs)
    with FakeOpenAIServer() as srv:
        with pytest.raises(SynthRecipeError, match=r"reads a rl version as 'tasks', convs@1 is 'sft'"):
            run({"generator": "agentic_sft", "tasks": w.manifest.ref, "outputs": {"sft": "ag"}}, store,
                endpoint=srv.endpoint())
        assert srv.n_requests == 0
