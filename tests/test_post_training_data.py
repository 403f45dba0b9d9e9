"""Data for the post-training stages against the local fake teacher (scripted replies with reasoning fields):
reasoning traces kept apart from answers and rendered in the chat template's thinking format only when asked;
preference pairs from rejection sampling, judge comparisons and on-policy samples of a checkpoint; multi-role
dialogues (client, advisor, compliance reviewer as separate calls) with the reviewer's verdict as a label."""

from __future__ import annotations

import json
import re
import threading
from collections import Counter

import pytest

from synthesis.generators import run
from synthesis.testing import FakeOpenAIServer, RepeatCounter, Scripted, last_user

# -- 2. reasoning traces ------------------------------------------------------------------------------------------

def test_teacher_keeps_reasoning_apart_from_the_answer(tmp_path):
    from finance.messages import wire_message
    from synthesis.teachers import Request, TeacherClient

    def respond(body):
        q = last_user(body)
        return {"sep": Scripted("Answer: 4", reasoning="2 plus 2 is 4."),
                "vllm": Scripted("Answer: 5", reasoning="newer servers call it reasoning", reasoning_field="reasoning"),
                "inline": Scripted("<think>\nadd them up\n</think>\n\nAnswer: 6"),
                "json": Scripted('<think>the schema wants a number</think>{"answer": 7}'),
                "cut": Scripted("<think>still thinking when the budget ran out", finish_reason="length"),
                "plain": Scripted("Answer: 8")}[q]

    qs = ["sep", "vllm", "inline", "json", "cut", "plain"]
    schema = {"type": "object", "properties": {"answer": {"type": "integer"}}, "required": ["answer"]}
    reqs = [Request([{"role": "user", "content": q}], schema=schema if q == "json" else None) for q in qs]
    with FakeOpenAIServer(respond) as srv:
        got = TeacherClient(srv.endpoint(), cache=tmp_path / "c.sqlite").run(reqs)
        cached = TeacherClient(srv.endpoint(), cache=tmp_path / "c.sqlite").run(reqs)
        assert srv.n_requests == len(qs)  # the second run came from the cache, traces included
    for reps in (got, cached):
        by = dict(zip(qs, reps, strict=True))
        assert (by["sep"].content, by["sep"].reasoning) == ("Answer: 4", "2 plus 2 is 4.")
        assert (by["vllm"].content, by["vllm"].reasoning) == ("Answer: 5", "newer servers call it reasoning")
        assert (by["inline"].content, by["inline"].reasoning) == ("Answer: 6", "add them up")
        assert by["json"].parsed == {"answer": 7} and by["json"].reasoning == "the schema wants a number"
        assert by["cut"].content == "" and by["cut"].reasoning.startswith("still thinking")
        assert by["plain"].reasoning is None and "reasoning_content" not in by["plain"].message()
        msg = by["sep"].message()
        assert msg["reasoning_content"] == "2 plus 2 is 4." and "reasoning_content" not in by["sep"].message(False)
        assert "reasoning_content" not in wire_message(msg)  # never sent back to a teacher
    from synthesis.teachers import Reply

    old = Reply.from_dict({"request_id": None, "request_hash": "h", "teacher": "t",  # cached by an older client
                           "content": "<think>old trace</think>\n\nAnswer: 9"})
    assert (old.content, old.reasoning) == ("Answer: 9", "old trace")


@pytest.fixture(scope="module")
def tiny_tok(tmp_path_factory):
    from transformers import AutoTokenizer

    from training.tiny import train_tokenizer

    d = train_tokenizer(["What is 12 plus 30? The answer is 42. think add the tens then the units"] * 50,
                        tmp_path_factory.mktemp("tok") / "tok", vocab_size=300)
    return AutoTokenizer.from_pretrained(str(d))


def test_sft_renders_traces_in_the_thinking_format_only_when_asked(store, tiny_tok):
    from training.data import ChatSource
    from training.sft import render

    rec = {"messages": [{"role": "user", "content": "What is 12 plus 30?"},
                        {"role": "assistant", "content": "The answer is 42.",
                         "reasoning_content": "add the tens then the units"}]}
    with store.writer("cot", kind="sft") as w:  # the trace is a field of the assistant turn in the catalog
        w.write([rec])
    (stored,) = store.iter_records(w.manifest)
    assert stored["messages"][1]["reasoning_content"] == "add the tens then the units"
    ids, mask = render(tiny_tok, stored, reasoning=True)
    text, target = tiny_tok.decode(ids), tiny_tok.decode(ids[mask > 0])
    assert "<|im_start|>assistant\n<think>\nadd the tens then the units\n</think>\n\nThe answer is 42." in text
    assert target.startswith("<think>\nadd the tens") and target.rstrip().endswith("<|im_end|>")  # trace is learned
    ids2, mask2 = render(tiny_tok, stored)  # default: the answer alone
    assert "<think>" not in tiny_tok.decode(ids2) and tiny_tok.decode(ids2[mask2 > 0]).startswith("The answer is 42.")
    assert len(ChatSource(store, w.manifest, tiny_tok, reasoning=True).ids[0]) == len(ids)
    tiny_tok.chat_template = tiny_tok.chat_template.replace("m.reasoning_content", "m.no_such_field")
    with pytest.raises(ValueError, match="no thinking format"):
        ChatSource(store, w.manifest, tiny_tok, reasoning=True)


# -- 3. preference pairs ----------------------------------------------------------------------------------------------


class Solver(RepeatCounter):
    """R1-style solutions: the trace in reasoning_content, the answer in content. Task a is solved on even samples
    (a % 3 != 0) or never after the first sample (a % 3 == 0); task 6 is always solved. Wrong traces mention
    the right number, so a verifier that read the trace would be fooled."""

    def __call__(self, body):
        a, b = map(int, re.search(r"What is (\d+) plus (\d+)", last_user(body)).groups())
        i = self.count(body)
        right = True if a == 6 else (i % 2 == 0 if a % 3 else i == 0)
        ans = a + b if right else a + b + 1 + i
        return Scripted(f"So the sum is \\boxed{{{ans}}}.", reasoning=f"{a} plus {b} makes {a + b}; check: {ans}.")


def _adds_up(rep):
    for o in rep.rows():
        assert o["inputs"] == o["kept"] + o["dropped"] + o["quarantined"], o


def test_rejection_sampling_keeps_traces_and_pairs_verified_with_failed(store, arith_tasks):
    from synthesis.rewards import score

    ref = arith_tasks
    with FakeOpenAIServer(Solver()) as srv:
        rep = run("rejection_sampling", store, endpoint=srv.endpoint(), overrides={  # the shipped recipe
            "tasks": ref, "k": 4, "keep_per_task": 2, "outputs": {"sft": "r-sft", "rl": "r-rl", "pref": "r-pref"}})
    _adds_up(rep)
    assert rep.unused_keys == []
    assert rep.manifests["pref"].kind == "pref" and rep.manifests["pref"].parents == rep.manifests["sft"].parents
    tasks = {r["id"]: r for r in store.iter_records(ref)}
    sft = list(store.iter_records(rep.manifests["sft"]))
    assert sft and all(s["messages"][-1]["reasoning_content"].startswith(tuple("123456")) for s in sft)
    pairs = list(store.iter_records(rep.manifests["pref"]))
    assert len(pairs) == 5  # tasks 1-5 have verified and failed samples; task 6 was always right
    assert rep.outputs["pref"]["dropped"] == {"all_samples_correct": 1}  # the judge task never reached sampling
    for p in pairs:
        meta = json.loads(p["meta"])
        spec = tasks[meta["task_id"]]["reward_spec"]
        assert p["prompt"][0]["content"] == tasks[meta["task_id"]]["prompt"][0]["content"]
        assert score(spec, p["chosen"][0]["content"]).score == 1.0
        assert score(spec, p["rejected"][0]["content"]).score == 0.0  # judged on the answer, not the trace
        assert dict(p["scores"]) == {"chosen": 1.0, "rejected": 0.0} and p["margin"] == 1.0
        assert p["chosen"][0]["reasoning_content"] and p["source"]["generator"] == "rejection_sampling"
        assert meta["chosen_sample"] != meta["rejected_sample"]
    # traces can be left out; no `pref` output unless asked
    with FakeOpenAIServer(Solver()) as srv:
        plain = run({"generator": "rejection_sampling", "tasks": ref, "k": 4, "keep_reasoning": False,
                     "outputs": {"sft": "r2-sft", "rl": "r2-rl"}}, store, endpoint=srv.endpoint())
    assert "pref" not in plain.manifests
    assert all(s["messages"][-1]["reasoning_content"] is None for s in store.iter_records(plain.manifests["sft"]))


class PairTeacher(RepeatCounter):
    """Answers that alternate good / WRONG / good again (a tie) per prompt; a judge that marks WRONG down."""

    def __call__(self, body):
        msgs = body["messages"]
        if msgs[0]["role"] == "system" and msgs[0]["content"].startswith("You are a strict reviewer"):
            bad = "WRONG" in last_user(body)
            names = re.findall(r"^- (\w+):", last_user(body), re.MULTILINE)
            return json.dumps({"scores": {n: (2 if bad else 5) for n in names}, "rationale": "scripted"})
        q = last_user(body)
        i = self.count(body)
        if "tie" in q:
            return f"Either way is fine ({i})."
        return f"A careful answer ({i})." if i % 2 == 0 else f"WRONG answer ({i})."


def test_judge_pairs_choose_the_better_judged_answer(store):
    from synthesis.generators.records import provenance, sft_record

    convs = [sft_record([{"role": "user", "content": f"Explain bond duration, case {i}."},
                         {"role": "assistant", "content": "old answer"}], "general/finance/explain", "en",
                        provenance("test", "t")) for i in range(4)]
    convs.append(sft_record([{"role": "user", "content": "A tie question"}, {"role": "assistant", "content": "x"}],
                            None, "en", provenance("test", "t")))
    with store.writer("convs", kind="sft") as w:
        w.write(convs)
    with FakeOpenAIServer(PairTeacher()) as srv:
        rep = run("judge_pairs", store, endpoint=srv.endpoint(), overrides={
            "prompts": w.manifest.ref, "rubrics": ["helpfulness"], "outputs": {"pref": "jp"}})
    _adds_up(rep)
    assert rep.unused_keys == []
    assert rep.outputs["pref"]["dropped"] == {"judge_tie": 1}
    pairs = list(store.iter_records(rep.manifests["pref"]))
    assert len(pairs) == 4
    for p in pairs:
        assert p["chosen"][0]["content"].startswith("A careful") and p["rejected"][0]["content"].startswith("WRONG")
        assert [m["role"] for m in p["prompt"]] == ["user"] and "old answer" not in json.dumps(p["prompt"])
        assert dict(p["scores"]) == {"chosen": 1.0, "rejected": 0.25} and p["margin"] == 0.75
        meta = json.loads(p["meta"])
        assert meta["chosen_judge"] == {"helpfulness": 5} and meta["rejected_judge"] == {"helpfulness": 2}
    assert rep.manifests["pref"].parents[0]["name"] == "convs"


def test_onpolicy_pairs_from_a_checkpoints_own_samples(store, tmp_path):
    from training.rl.toy import build_toy_model, toy_records

    with store.writer("toy", kind="rl") as w:
        w.write(toy_records(8, seed=1))
    model = build_toy_model(tmp_path / "policy", seed=0)
    recipe = {"tasks": w.manifest.ref, "model": str(model), "k": 8, "max_new_tokens": 1, "seed": 5,
              "outputs": {"pref": "onp"}}
    rep = run("onpolicy_pairs", store, overrides=recipe)
    _adds_up(rep)
    assert rep.unused_keys == []
    pairs = list(store.iter_records(rep.manifests["pref"]))
    assert pairs and set(rep.outputs["pref"]["dropped"]) <= {"no_signal"}
    tasks = {r["id"]: r for r in store.iter_records(w.manifest)}
    for p in pairs:
        spec = json.loads(tasks[json.loads(p["meta"])["task_id"]]["reward_spec"])
        assert p["chosen"][0]["content"] == spec["answer"] != p["rejected"][0]["content"]  # the policy's own tokens
        assert p["source"]["generator"] == "onpolicy_pairs" and p["source"]["teacher"] == "checkpoint:policy"
    again = run("onpolicy_pairs", store, overrides=recipe)  # seeded sampling: the same pairs, the same version
    assert again.manifests["pref"].ref == rep.manifests["pref"].ref


# -- 5. multi-role dialogues ------------------------------------------------------------------------------------------

class Roles:
    """Client, advisor and reviewer told apart by their system prompts; every request is logged by role."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: list[tuple[str, dict]] = []

    def __call__(self, body):
        msgs = body["messages"]
        sys = msgs[0]["content"] if msgs[0]["role"] == "system" else ""
        if sys.startswith("You are a bank client"):
            role = "client"
        elif "compliance reviewer" in last_user(body):
            role = "reviewer"
        else:
            role = "advisor"
        with self.lock:
            self.calls.append((role, body))
        zh = "Simplified Chinese" in sys or "你是" in sys
        said = sum(1 for m in msgs if m["role"] == ("user" if role == "client" else "assistant"))
        if role == "client":
            patient = "retiree" in sys  # the retiree asks until the turn cap; the others are satisfied after 2 answers
            if said >= 2 and not patient:
                return "[SATISFIED] 谢谢，明白了。" if zh else "[SATISFIED] Thanks, that helps."
            who = re.search(r"client: (.+?)\. Private", sys).group(1)
            topic = re.search(r"help with (.+?)\. Speak", sys).group(1) + f", as {who}"
            return (f"关于{topic}，我想了解一下，风险大吗？" if zh else f"I'd like advice on {topic}. Is it risky?") + \
                f" ({said})"
        if role == "advisor":
            if "retiree" in json.dumps(msgs, ensure_ascii=False):
                return "This structured note will guarantee returns of 8%, you can't lose."
            return ("请问您的风险承受能力和投资期限？" if zh else
                    "What is your risk tolerance and investment horizon? Any fund can fall in value.") + f" ({said})"
        bad = "guarantee" in last_user(body).split("<<<", 1)[1]  # the transcript, not the rules
        return json.dumps({"verdict": "non_compliant" if bad else "compliant",
                           "issues": ["promised returns"] if bad else [], "rationale": "scripted review"})


def test_role_dialogues_separate_calls_and_the_reviewers_label(store):
    roles = Roles()
    with FakeOpenAIServer(roles) as srv:
        rep = run("role_dialogues", store, endpoint=srv.endpoint(), overrides={
            "dialogues": 8, "max_turns": 3, "seed": 0, "outputs": {"sft": "roles"}})
    _adds_up(rep)
    assert rep.unused_keys == []
    recs = list(store.iter_records(rep.manifests["sft"]))
    assert len(recs) == 8 and {r["lang"] for r in recs} == {"en", "zh"}
    ends = Counter()
    for r in recs:
        roles_seq = [m["role"] for m in r["messages"]]
        assert roles_seq[0] == "system" and roles_seq[1:] == ["user", "assistant"] * ((len(roles_seq) - 1) // 2)
        meta = json.loads(r["meta"])
        ends[meta["ended"]] += 1
        assert meta["review"]["verdict"] in ("compliant", "non_compliant")
        assert dict(r["quality"]) == {"review_compliant": float(meta["review"]["verdict"] == "compliant")}
        assert meta["teacher_calls"]["reviewer"] == 1 and meta["teacher_calls"]["advisor"] == meta["advisor_turns"]
        if meta["ended"] == "turn_cap":
            assert meta["advisor_turns"] == 3
        else:
            assert meta["advisor_turns"] == 2 and meta["client_closing"]
        if "retiree" in meta["persona"]:
            assert meta["review"]["verdict"] == "non_compliant" and meta["rule_flags"]
    assert set(ends) == {"client_satisfied", "turn_cap"}
    assert rep.stats["review_verdicts"] == {"non_compliant": 2, "compliant": 6}  # seed 0: two retirees
    # separate calls, separate knowledge: the client's private facts go to client calls only
    by_role = Counter(r for r, _ in roles.calls)
    assert by_role["reviewer"] == 8 and by_role["client"] >= by_role["advisor"] >= 16
    for role, body in roles.calls:
        sys = body["messages"][0]["content"] if body["messages"][0]["role"] == "system" else ""
        if role == "advisor":
            assert "Private facts" not in json.dumps(body) and "R1 lowest" in sys
        if role == "client":
            assert "Private facts" in sys and "R1 lowest" not in json.dumps(body)
    # keep: compliant drops the others, counted by verdict
    with FakeOpenAIServer(Roles()) as srv:
        strict = run({"generator": "role_dialogues", "dialogues": 8, "max_turns": 3, "zh_fraction": 0.3, "seed": 0,
                      "keep": "compliant", "outputs": {"sft": "roles-ok"}}, store, endpoint=srv.endpoint())
    _adds_up(strict)
    assert strict.outputs["sft"]["dropped"] == {"review:non_compliant": rep.stats["review_verdicts"]["non_compliant"]}


class CitingRoles(Roles):
    """An advisor that answers from its product sheet: each turn cites one product and its risk level, read from
    the system prompt it was sent (a fact it saw, never one it made up)."""

    def __call__(self, body):
        reply = super().__call__(body)
        msgs = body["messages"]
        if msgs[0]["role"] != "system" or msgs[0]["content"].startswith("You are a bank client"):
            return reply  # client and reviewer calls
        sheet = re.findall(r"([A-Za-z][A-Za-z -]+?) \((R[1-5])", msgs[0]["content"])
        name, level = sheet[len(msgs) % len(sheet)] if sheet else ("a product", "an unknown level")
        return f"{reply} For example, the {name.strip()} is rated {level}."


def test_role_dialogue_records_carry_what_the_advisor_saw(store):
    """The stored SFT record's prompt side is exactly what the advisor was sent at each of its turns (policy and
    product sheet included), so every product and risk level an answer cites is in the prompt it is trained on."""
    roles = CitingRoles()
    with FakeOpenAIServer(roles) as srv:
        rep = run("role_dialogues", store, endpoint=srv.endpoint(), overrides={
            "dialogues": 6, "max_turns": 3, "seed": 0, "outputs": {"sft": "roles-cite"}})
    recs = list(store.iter_records(rep.manifests["sft"]))
    assert len(recs) == 6 and {r["lang"] for r in recs} == {"en", "zh"}
    advisor_prompts = [[{"role": m["role"], "content": m["content"]} for m in body["messages"]]
                       for role, body in roles.calls if role == "advisor"]
    for r in recs:
        msgs = [{"role": m["role"], "content": m["content"]} for m in r["messages"]]
        prompt_side = msgs[0]["content"]
        for fact in ("Treasury money-market fund (R1)", "short-term bond fund (R2)", "balanced fund (R3)",
                     "broad equity index fund (R4)", "structured note", "R5 highest"):
            assert fact in prompt_side, (fact, prompt_side)
        cited = [re.search(r"the (.+?) is rated (R[1-5])\.", m["content"]) for m in msgs if m["role"] == "assistant"]
        assert cited and all(cited)
        for c in cited:  # the product and its level, as the sheet in the record's prompt states them
            assert f"{c.group(1)} ({c.group(2)}" in prompt_side
        for k, m in enumerate(msgs):  # each advisor turn was generated from exactly the record's prefix
            if m["role"] == "assistant":
                assert msgs[:k] in advisor_prompts, (r["id"], k)
