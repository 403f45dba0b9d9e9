"""Teacher-driven generators against the local OpenAI-compatible server with scripted replies (wrong answers,
invalid and hostile programs, unsupported figures, non-compliant dialogues, failures): schemas, verification,
rejection with counted reasons, coverage balancing, teacher pass@k, caching."""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter

import pytest

from synthesis.generators import run
from synthesis.testing import FakeOpenAIServer, RepeatCounter, Scripted, last_user

PASSAGE = ("Granite Trust Company reported total revenue of $7,109 million in fiscal 2019, compared with $5,989 "
           "million in 2018. Net interest margin was 2.41%. The board approved a dividend of $0.50 per share. "
           "Management expects credit costs to rise as the economy slows and deposit competition intensifies. ")


def _h(body) -> int:
    return int(hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:8], 16)


class Teacher(RepeatCounter):
    """Scripted replies by request type; counters make repeated identical bodies (k samples) differ."""


    def __call__(self, body):
        msgs = body["messages"]
        sys = msgs[0]["content"] if msgs[0]["role"] == "system" else ""
        user = last_user(body)
        if sys.startswith("You are a strict reviewer"):
            return self.judge(user)
        if "question–answer pairs" in user:
            return json.dumps({"items": GROUNDED_ITEMS})
        if user.startswith("Rewrite the following financial task"):
            return self.evolve(body, user)
        if "conversation between a client" in user:
            return self.dialogue(user)
        if "Write one new numerical question" in user:
            return self.author(user)
        if "Finance relevance (0-5)" in user:
            fin = 4 if "revenue" in user else 0
            return json.dumps({"quality": 3, "finance": fin, "reason": "scripted"})
        if body.get("tools"):
            return self.agent(body)
        if "What is " in user and " plus " in user:
            return self.solve(body, user)
        return self.answer(user)

    def judge(self, transcript):
        bad = "WRONG" in transcript
        return json.dumps({"scores": {k: (2 if bad and k == "correctness" else 5) for k in
                                      ("correctness", "helpfulness", "compliance", "language_match", "faithfulness")
                                      if f"- {k}:" in transcript},
                           "rationale": "scripted verdict"})

    def evolve(self, body, user):
        want = re.search(r"language code (\w+)", user).group(1)
        n = _h(body)
        topics = ["liquidity", "duration", "pension", "leverage", "margin", "hedging", "dividends", "FX", "capital"]
        if n % 11 == 0:
            return json.dumps({"instruction": "Sorry, #Rewritten Prompt#: same", "language": want})
        if want == "zh":
            text = f"请在{n % 97}家{['银行', '券商', '基金', '保险'][n % 4]}的背景下分析第{n % 1000}号情景中的风险与收益。"
        else:
            t = [topics[(n >> i) % len(topics)] for i in range(4)]
            text = f"Case {n % 1000}: assess {t[0]} and {t[1]} for a firm facing {t[2]} pressure and {t[3]} limits."
        return json.dumps({"instruction": text, "language": want})

    def answer(self, instruction):
        zh = bool(re.search(r"[\u4e00-\u9fff]", instruction))
        if "Case 13" in instruction:
            return "I'm sorry, I cannot help with that."
        return ("综合来看，需要权衡风险与收益，建议分散投资并关注流动性。" if zh else
                "Weigh the risks against the returns, diversify, and keep enough liquidity for obligations.")

    def dialogue(self, user):
        zh = "Simplified Chinese" in user
        variant = int(re.search(r"Variant (\d+)", user).group(1))
        kind = _h({"u": user}) % 4
        if zh:
            turns = [("user", "我想买一只基金，有什么建议？"), ("assistant", "请问您的风险承受能力和投资期限是怎样的？"),
                     ("user", "我比较保守，投资三年。"), ("assistant", "可以考虑债券基金，但净值会波动，存在风险。")]
        else:
            turns = [("user", "I want to invest my savings. What should I buy?"),
                     ("assistant", "Before any recommendation: what is your risk tolerance and investment horizon?"),
                     ("user", "Low risk, about three years."),
                     ("assistant", "A short-term bond fund could fit, but its value can fall; it is not insured.")]
        if kind == 1:
            turns[3] = ("assistant", "这只基金保证收益8%，稳赚不赔。" if zh else
                        "This fund will guarantee returns of 8% a year, you can't lose money.")
        if kind == 2 and not zh:
            turns[1] = ("assistant", "I recommend our equity fund right away.")
        return json.dumps({"turns": [{"role": r, "content": c} for r, c in turns], "variant": variant})

    def author(self, user):
        rows = re.findall(r"^\| ([^|]+?) \| ([\d,().$ -]+?) \| ([\d,().$ -]+?) \|", user, re.MULTILINE)
        nums = [(lab, float(a.replace(",", "").replace("$", "").strip()), float(b.replace(",", "").replace("$",
                 "").strip())) for lab, a, b in rows if re.fullmatch(r"[\d,.$ ]+", a) and re.fullmatch(r"[\d,.$ ]+", b)]
        k = self.count({"messages": [{"c": user}]}) + _h({"u": user})
        if not nums and "this passage answers" in user:  # a passage: take two figures from its text
            figs = [float(x.replace(",", "")) for x in re.findall(r"\$(\d[\d,]*) million", user)]
            if len(figs) >= 2:
                nums = [("revenue", figs[0], figs[1])]
        if not nums or nums[0][2] == 0:
            return json.dumps({"question": "What is the total?", "program": "add(1, 2", "answer": "3", "unit": "amount"})
        lab, a, b = nums[0]
        good = {"question": f"What was the percentage change in {lab}?",
                "program": f"subtract({a:g}, {b:g}), divide(#0, {b:g})", "answer": f"{(a - b) / b * 100:.2f}%",
                "unit": "percent"}
        variant = k % 5
        if variant == 1:
            good["answer"] = f"{(a - b) / b * 100 + 7:.2f}%"  # wrong stated answer
        elif variant == 2:
            good["program"] = "__import__('os').system('echo pwned')"  # hostile program
        elif variant == 3:
            good["program"] = f"subtract({a:g}, 123456.789), divide(#0, {b:g})"  # invented operand
        return json.dumps(good)

    def solve(self, body, user):
        a, b = map(int, re.search(r"What is (\d+) plus (\d+)", user).groups())
        i = self.count(body)
        right = i % 2 == 0 if a % 3 else i == 0  # some tasks solved 2 of 4 times, others 1 of 4
        return f"Adding gives {a + b if right else a + b + 1}.\n\\boxed{{{a + b if right else a + b + 1}}}"

    def agent(self, body):
        msgs = body["messages"]
        user = last_user(body)
        tool_msgs = [m for m in msgs if m["role"] == "tool"]
        hostile = "HOSTILE" in user
        n_calls = sum(len(m.get("tool_calls") or []) for m in msgs if m["role"] == "assistant")
        if hostile and n_calls == 0:
            return Scripted(None, "tool_calls", [_call("h1", "sql_query", {"sql": "DROP TABLE facts"}),
                                                 _call("h2", "calculator", {"expression": "__import__('os')"})])
        if not any(json.loads(m["content"]).get("ok") for m in tool_msgs):
            return Scripted(None, "tool_calls", [_call("q1", "sql_query", {
                "sql": "SELECT value FROM facts WHERE row_label = 'Total revenue' AND column_label = '2019'"})])
        rows = next(json.loads(m["content"])["result"]["rows"] for m in tool_msgs if json.loads(m["content"]).get("ok"))
        if not rows or not isinstance(rows[0][0], (int, float)):
            return "I could not find the figure. \\boxed{0}"
        return f"Total revenue in 2019 was {rows[0][0]:,.0f} million. \\boxed{{{rows[0][0]:g}}}"


def _call(i, name, args):
    return {"id": i, "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}


GROUNDED_ITEMS = [
    {"task_type": "extraction", "question": "What was total revenue in fiscal 2019?", "answer": "$7,109 million",
     "evidence": ["total revenue of $7,109 million in fiscal 2019"]},
    {"task_type": "extraction", "question": "What was the dividend per share?", "answer": "$0.75 per share",
     "evidence": ["The board approved a dividend"]},  # figure not in the passage
    {"task_type": "summary", "question": "What does management expect for credit costs?",
     "answer": "Credit costs are expected to rise.", "evidence": ["credit costs will fall sharply"]},  # fabricated
    {"task_type": "calculation", "question": "By what percentage did revenue grow from 2018 to 2019?",
     "answer": "18.70%", "evidence": ["$7,109 million", "$5,989 million"],
     "program": "subtract(7109, 5989), divide(#0, 5989)"},
    {"task_type": "calculation", "question": "What is revenue minus 2018 revenue?", "answer": "1,120",
     "evidence": ["$7,109 million"], "program": "__import__('os').system('id')"},  # hostile program
    {"task_type": "calculation", "question": "What is the revenue ratio?", "answer": "2.5",
     "evidence": ["$7,109 million"], "program": "divide(7109, 5989)"},  # wrong answer
    {"task_type": "interpretation", "question": "Why might credit costs rise?",
     "answer": "Because the economy slows and deposit competition intensifies.",
     "evidence": ["Management expects credit costs to rise as the economy slows"]},
]


@pytest.fixture
def teacher():
    t = Teacher()
    with FakeOpenAIServer(responder=t) as srv:
        srv.script = t
        yield srv


@pytest.fixture
def docs(store):
    with store.writer("fin-docs", kind="doc") as w:
        w.write([{"text": PASSAGE * 2, "lang": "en", "id": "d1"},
                 {"text": "The weather was sunny and the park was full of families enjoying a picnic. " * 6,
                  "lang": "en", "id": "d2"}])
    return w.manifest.ref


def ep(srv, **kw):
    return srv.endpoint(**{"max_concurrency": 8, **kw})


def _adds_up(rep):
    for k, s in rep.outputs.items():
        assert s["inputs"] == s["kept"] + sum(s["dropped"].values()) + s["quarantined"], (k, s)


def test_grounded_sft_keeps_only_supported_pairs(teacher, store, docs):
    rep = run({"generator": "grounded_sft", "input": docs, "passages": 1, "min_passage_chars": 200,
               "outputs": {"sft": "g-sft"}}, store, endpoint=ep(teacher))
    _adds_up(rep)
    s = rep.outputs["sft"]
    assert s["kept"] == 3
    assert s["dropped"] == {"figure_not_in_passage": 1, "evidence_not_in_passage": 1, "invalid_program": 1,
                            "calculation_mismatch": 1}
    recs = list(store.iter_records(rep.manifests["sft"]))
    assert {json.loads(r["meta"])["task_type"] for r in recs} == {"extraction", "calculation", "interpretation"}
    r = recs[0]
    assert r["source"]["teacher"] == "fake:fake-model" and len(r["source"]["request_hash"]) >= 16
    assert r["messages"][1]["content"].startswith("Passage:") and r["taxonomy"]
    assert rep.manifests["sft"].extra["teacher"]["total"]["requests"] == 1
    assert [f"{p['name']}@{p['version']}" for p in rep.manifests["sft"].parents] == [docs]


def test_evolution_balances_leaves_and_reports_coverage(teacher, store):
    leaves = ["knowledge_exams/academic/concept_explanation", "wealth_advisory/planning/retirement_planning",
              "compliance_safety/regulation/regulation_qa"]
    rep = run({"generator": "evolution", "leaves": leaves, "total": 12, "max_rounds": 5,
               "outputs": {"sft": "e-sft"}}, store, endpoint=ep(teacher))
    _adds_up(rep)
    cov = rep.stats["coverage"]
    assert {k: v["target"] for k, v in cov.items()} == dict.fromkeys(leaves, 4)
    assert all(v["achieved"] == 4 for v in cov.values()), cov
    assert rep.coverage["sft"] == dict.fromkeys(leaves, 4)
    assert rep.manifests["sft"].extra["stats"]["coverage_ratio"] == 1.0
    recs = list(store.iter_records(rep.manifests["sft"]))
    ops = Counter(json.loads(r["meta"])["operation"] for r in recs)
    assert len(ops) >= 3
    for r in recs:  # the language of each task matches its label
        zh = bool(re.search(r"[\u4e00-\u9fff]", r["messages"][0]["content"]))
        assert r["lang"] == ("zh" if zh else "en")
    assert sum(rep.outputs["sft"]["dropped"].values()) > 0  # scripted leaks / refusals were eliminated


def test_evolution_rerun_makes_no_new_calls(teacher, store):
    recipe = {"generator": "evolution", "leaves": ["general_retention/reasoning/math"], "total": 3,
              "outputs": {"sft": "e2"}}
    run(recipe, store, endpoint=ep(teacher))
    before = teacher.n_requests
    rep = run(recipe, store, endpoint=ep(teacher))
    assert teacher.n_requests == before and rep.teacher["total"]["requests"] == 0
    assert rep.teacher["total"]["cached"] > 0


def test_dialogues_rules_and_judge(teacher, store):
    rep = run({"generator": "advisory_dialogues", "dialogues": 16, "zh_fraction": 0.25, "judge": True,
               "outputs": {"sft": "d-sft"}}, store, endpoint=ep(teacher))
    _adds_up(rep)
    drops = rep.outputs["sft"]["dropped"]
    assert drops.get("compliance_rule:guarantee", 0) >= 1 and drops.get("compliance_rule:suitability", 0) >= 1
    recs = list(store.iter_records(rep.manifests["sft"]))
    assert recs and all(dict(r["quality"])["judge_compliance"] == 5.0 for r in recs)
    for r in recs:
        roles = [m["role"] for m in r["messages"]]
        assert roles[0] == "system" and roles[1] == "user" and roles[-1] == "assistant"
        assert not any("guarantee" in (m["content"] or "") for m in r["messages"][1:])
    assert {r["lang"] for r in recs} == {"en", "zh"}


def test_rejection_sampling_pass_at_k(teacher, store, arith_tasks):
    ref = arith_tasks
    rep = run({"generator": "rejection_sampling", "tasks": ref, "k": 4, "keep_per_task": 2,
               "outputs": {"sft": "r-sft", "rl": "r-rl"}}, store, endpoint=ep(teacher))
    _adds_up(rep)
    rl = {json.loads(r["meta"])["from"]: r for r in store.iter_records(rep.manifests["rl"])}
    assert len(rl) == 6 and rep.outputs["rl"]["dropped"] == {"not_verifiable:judge": 1}
    rates = sorted(json.loads(r["meta"])["teacher_pass@k"] for r in rl.values())
    assert rates == [0.25, 0.25, 0.5, 0.5, 0.5, 0.5]
    assert all(r["difficulty"] == pytest.approx(1 - json.loads(r["meta"])["teacher_pass@k"]) for r in rl.values())
    sft = list(store.iter_records(rep.manifests["sft"]))
    from synthesis.rewards import score

    for s in sft:
        task = rl[json.loads(s["meta"])["task_id"]]
        assert score(task["reward_spec"], s["messages"][-1]["content"]).score == 1.0
    assert rep.outputs["sft"]["dropped"]["wrong_answer"] == 24 - 10


def test_authored_rl_keeps_only_reproducing_programs(teacher, store, shared_data):
    rep = run({"generator": "authored_rl", "inputs": [str(shared_data / "finqa/train_100.json")], "tables": 30,
               "outputs": {"rl": "a-rl"}}, store, endpoint=ep(teacher))
    _adds_up(rep)
    drops = rep.outputs["rl"]["dropped"]
    assert {"stated_answer_mismatch", "invalid_program", "program_uses_numbers_not_in_context"} <= set(drops)
    recs = list(store.iter_records(rep.manifests["rl"]))
    assert recs
    from synthesis.generators.specs import boxed_answer
    from synthesis.rewards import run_program, score

    for r in recs:
        meta, spec = json.loads(r["meta"]), json.loads(r["reward_spec"])
        assert abs(run_program(meta["program"], None, "finqa") * 100 - spec["answer"]) < 1e-6
        assert score(spec, boxed_answer(spec)).score == 1.0
        assert "__import__" not in meta["program"]


def test_annotate_docs(teacher, store, docs):
    rep = run({"generator": "annotate", "input": docs, "outputs": {"doc": "ann"}}, store, endpoint=ep(teacher))
    _adds_up(rep)
    recs = {r["id"]: dict(r["scores"]) for r in store.iter_records(rep.manifests["doc"])}
    assert recs["d1"] == {"teacher_quality": 3.0, "teacher_finance": 4.0}
    assert recs["d2"]["teacher_finance"] == 0.0
    assert rep.manifests["doc"].kind == "doc" and rep.stats["label_histogram"]["finance"] == {0: 1, 4: 1}


def test_teacher_failures_are_quarantined_with_reason(teacher, store, docs):
    teacher.enqueue("400")
    rep = run({"generator": "annotate", "input": docs, "outputs": {"doc": "ann2"}}, store,
              endpoint=ep(teacher, max_concurrency=1))
    _adds_up(rep)
    assert rep.outputs["doc"]["quarantined"] == 1 and rep.outputs["doc"]["kept"] == 1
    q = store.read_quarantine(rep.manifests["doc"]).to_pylist()
    assert "teacher_failed" in q[0]["reason"] and "400" in q[0]["reason"]


def test_teacher_recipe_without_endpoint_is_a_clear_error(store, docs):
    from synthesis.generators import SynthRecipeError

    with pytest.raises(SynthRecipeError, match="needs a teacher endpoint"):
        run({"generator": "annotate", "input": docs}, store)


def test_api_key_never_reaches_the_store(store, docs, monkeypatch):
    secret = "sk-test-0123456789abcdef-SECRET"
    monkeypatch.setenv("HUIJIN_TEST_TEACHER_KEY", secret)
    with FakeOpenAIServer(responder=Teacher(), api_key=secret) as srv:
        rep = run({"generator": "annotate", "input": docs, "outputs": {"doc": "ann3"}}, store,
                  endpoint=srv.endpoint(api_key_env="HUIJIN_TEST_TEACHER_KEY"))
        assert rep.outputs["doc"]["kept"] == 2 and srv.auth_seen == {f"Bearer {secret}"}
    files = [p for p in store.root.rglob("*") if p.is_file()]
    assert any(p.suffix == ".sqlite" for p in files)  # the request cache was written
    assert not [p for p in files if secret.encode() in p.read_bytes()]


def test_grounded_sft_with_judge_pass(teacher, store, docs):
    rep = run({"generator": "grounded_sft", "input": docs, "passages": 1, "min_passage_chars": 200, "judge": True,
               "outputs": {"sft": "gj-sft"}}, store, endpoint=ep(teacher))
    _adds_up(rep)
    recs = list(store.iter_records(rep.manifests["sft"]))
    assert len(recs) == 3
    assert all(dict(r["quality"]) == {"judge_faithfulness": 5.0, "judge_correctness": 5.0} for r in recs)


def test_authored_rl_over_passages(teacher, store, docs):
    rep = run({"generator": "authored_rl", "input": docs, "outputs": {"rl": "ap-rl"}}, store, endpoint=ep(teacher))
    _adds_up(rep)
    recs = list(store.iter_records(rep.manifests["rl"]))
    assert recs and all(json.loads(r["reward_spec"])["answer"] == pytest.approx(18.7011, abs=1e-3) for r in recs)
    assert "Table:" not in recs[0]["prompt"][-1]["content"]
