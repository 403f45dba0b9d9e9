"""The evaluation harness on the shared dev data: known answers (scripted completions) score correctly,
wrong ones do not; programs are executed; per-leaf breakdown; scores stored in runs; the ablation table."""

from __future__ import annotations

import json

import pytest

from training.evaluation import ablation, load_suite, run_suite, score_item, scripted, store_scores


def _gold(it, wrong: bool = False) -> str:
    g, t = it.spec.get("answer"), it.spec["type"]
    if t == "numeric":
        v = float(g)
        return f"The result is \\boxed{{{v * 100 + 1 if wrong else v}}}"
    if t == "choice":
        letters = it.spec["options"]
        return f"答案是 \\boxed{{{letters[(letters.index(g) + 1) % len(letters)] if wrong else g}}}"
    if t == "set":
        return "Answer: " + ("nothing" if wrong else "; ".join(g))
    return "Answer: " + ("nothing at all" if wrong else str(g))


@pytest.fixture
def suite(shared_data, monkeypatch):
    monkeypatch.setenv("HUIJIN_EVAL_DATA", str(shared_data))
    return load_suite("fin_dev")


def test_finqa_dev_known_answers_score(suite):
    rep = run_suite(suite, scripted(_gold), tasks=["finqa"])
    s = rep.summary()
    assert s["tasks"]["finqa"]["n"] == 200 and s["tasks"]["finqa"]["accuracy"] == 1.0 and s["unscorable"] == 0
    wrong = run_suite(suite, scripted(lambda it: _gold(it, wrong=True)), tasks=["finqa"]).summary()
    assert wrong["tasks"]["finqa"]["accuracy"] <= 0.02  # only yes/no golds could collide; numbers never do
    # percent answers: FinQA executes "24.2%" as 0.242 and "3.8%" as 3.8; the written answer decides the unit
    # (finance.answers), so both are percent golds, and the ratio form is accepted where it is explicit
    items = {it.id: it for it in suite.items(tasks=["finqa"])}
    zbh = items["ZBH/2003/page_40.pdf-1"]
    assert (zbh.spec["unit"], zbh.spec["answer"], zbh.spec["precision"]) == ("percent", 3.8, 1)
    assert score_item(zbh, "\\boxed{3.8\\%}").score == 1.0 and score_item(zbh, "\\boxed{380\\%}").score == 0.0
    pct = next(it for it in items.values() if it.spec.get("unit") == "percent" and it.spec.get("precision") == 1
               and abs(float(it.spec["answer"])) > 5)
    g = float(pct.spec["answer"])
    assert score_item(pct, f"\\boxed{{{g:.4f}\\%}}").score == 1.0
    assert score_item(pct, f"\\boxed{{{g / 100:.6f}}}").score == 1.0
    # a plain-prompt answer after a reasoning trace that boxed a draft: the answer is read, the draft never
    assert score_item(zbh, "<think>maybe \\boxed{380%}</think> 3.8%", prompt="plain").score == 1.0
    assert score_item(zbh, "<think>maybe \\boxed{3.8%}</think> 380%", prompt="plain").score == 0.0


def test_finqa_programs_are_executed(suite, shared_data):
    records = {r["id"]: r for r in json.loads((shared_data / "finqa" / "dev_200.json").read_text())}
    rep = run_suite(suite, scripted(lambda it: f"Program:\nAnswer: {records[it.id]['qa']['program']}"),
                    tasks=["finqa"])
    s = rep.summary()
    assert s["tasks"]["finqa"]["accuracy"] >= 0.97  # the interpreter reproduces FinQA's exe_ans
    assert s["via_program"] >= 150  # scored by executing the program, not as a number
    r = score_item(next(it for it in suite.items(tasks=["finqa"]) if it.id == "V/2008/page_17.pdf-1"),
                   "Answer: divide(637, const_5)")
    assert r.score == 1.0 and r.via == "program" and r.pred == pytest.approx(127.4)
    bad = score_item(next(it for it in suite.items(tasks=["finqa"]) if it.id == "V/2008/page_17.pdf-1"),
                     "Answer: divide(637, const_4)")
    assert bad.score == 0.0


def test_chinese_mc_dev_and_taxonomy_breakdown(suite):
    rep = run_suite(suite, scripted(_gold), tasks=["fineva_zh"])
    s = rep.summary()
    assert s["tasks"]["fineva_zh"] == {"n": 170, "scored": 170, "accuracy": 1.0}
    assert s["lang"]["zh"]["n"] == 170
    leaves = {k: v["n"] for k, v in s["taxonomy"].items()}
    assert leaves == {"knowledge_exams/academic/economics_mc": 85,
                      "knowledge_exams/certification/cpa_accounting_mc": 50,
                      "knowledge_exams/certification/cn_qualification_mc": 35}
    wrong = run_suite(suite, scripted(lambda it: _gold(it, wrong=True)), tasks=["fineva_zh"]).summary()
    assert wrong["tasks"]["fineva_zh"]["accuracy"] == 0.0
    two = run_suite(suite, scripted(lambda it: "\\boxed{AB}"), tasks=["fineva_zh"]).summary()
    assert two["tasks"]["fineva_zh"]["accuracy"] == 0.0  # several letters to a single-answer question


def test_convfinqa_and_tatqa(suite):
    s = run_suite(suite, scripted(_gold), tasks=["convfinqa", "tatqa"]).summary()
    assert s["tasks"]["convfinqa"]["accuracy"] == 1.0
    assert s["tasks"]["tatqa"]["n"] == 480
    # the set scorer splits items on commas/"and", so multi-span golds containing them cannot score 1.0
    assert s["tasks"]["tatqa"]["accuracy"] >= 0.95
    items = suite.items(tasks=["tatqa"])
    scaled = next(it for it in items if it.spec.get("scale") == "million")
    g = float(scaled.spec["answer"])
    assert score_item(scaled, f"\\boxed{{{g} million}}").score == 1.0
    assert score_item(scaled, f"\\boxed{{{g * 1e6:.0f}}}").score == 1.0  # the fully written value
    assert score_item(scaled, f"\\boxed{{{g} billion}}").score == 0.0
    pct = next(it for it in items if it.spec.get("unit") == "percent")
    assert score_item(pct, f"\\boxed{{{pct.spec['answer']}\\%}}").score == 1.0
    conv = suite.items(tasks=["convfinqa"])[0]
    assert conv.history and conv.history[0][1] == "60.94"  # earlier turns answered by their programs


def test_scores_in_runs_and_ablation_table(store, suite):
    store_ids = []
    base = run_suite(suite, scripted(lambda it: "no idea"), tasks=["fineva_zh"], model="base").summary()
    for k, stage in enumerate(["general_rl", "cpt", "sft", "reasoning_rl"]):  # any order: columns follow stages
        rid = store.runs.start(stage, config={"k": k}, run_id=f"r-{stage}")
        store_ids.append(rid)
        n_right = [5, 1, 2, 3][k]
        rep = run_suite(suite, scripted(lambda it, n=n_right: _gold(it, wrong=int(it.id.split("-")[-1]) >= n)),
                        tasks=["fineva_zh"], model=stage)
        store_scores(store, rid, rep.summary())
        store.runs.finish(rid, metrics={"steps": 1}, output_model=f"/m/{stage}")
    store_scores(store, "r-cpt", base, "eval_input")
    t = ablation(store, store_ids)
    assert t["columns"] == ["metric", "base", "cpt", "sft", "reasoning_rl", "general_rl"]
    row = {r["metric"]: r for r in t["rows"]}
    acc = row["task:fineva_zh"]
    assert acc["base"] == 0.0 and acc["cpt"] == pytest.approx(0.2) and acc["sft"] == pytest.approx(0.4)
    assert acc["reasoning_rl"] == pytest.approx(0.6) and acc["general_rl"] == 1.0
    assert "leaf:knowledge_exams/academic/economics_mc" in row and "lang:zh" in row
    assert store.runs.get("r-sft")["metrics"]["steps"] == 1  # scores merged, other metrics kept


def test_suite_errors(tmp_path):
    from training.evaluation import SuiteError

    with pytest.raises(SuiteError, match="no evaluation suite"):
        load_suite("nope")
    p = tmp_path / "s.yaml"
    p.write_text("tasks:\n  - {name: x, format: weird, path: a.json}\n")
    with pytest.raises(SuiteError, match="format 'weird'"):
        load_suite(p)
    p.write_text("tasks:\n  - {name: x, format: finqa, path: /does/not/exist.json}\n")
    with pytest.raises(SuiteError, match="does not exist"):
        load_suite(p).items()
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"id": "r1", "qa": {}}]))
    p.write_text(f"tasks:\n  - {{name: x, format: finqa, path: {bad}}}\n")
    with pytest.raises(SuiteError, match="record 0 .r1. has no qa.question"):
        load_suite(p).items()


def test_english_mc_jsonl_and_plain_prompt(tmp_path):
    from training.evaluation.harness import plain_prompt

    data = tmp_path / "mc.jsonl"
    rows = [{"id": "q1", "question": "Which ratio measures liquidity?",
             "options": {"A": "Current ratio", "B": "P/E", "C": "ROE", "D": "Beta"}, "answer": "A"},
            {"id": "q2", "question": "A bond's price when yields rise?", "options": {"A": "rises", "B": "falls"},
             "answer": "b"}]
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    p = tmp_path / "s.yaml"
    p.write_text(f"name: en_mc\nprompt: plain\ntasks:\n  - {{name: mc, format: mc_jsonl, path: {data}, lang: en}}\n")
    suite = load_suite(p)
    items = suite.items()
    assert [it.spec["answer"] for it in items] == ["A", "B"] and items[1].spec["options"] == ["A", "B"]
    text = plain_prompt(items[0])
    assert text.endswith("Answer:") and "A. Current ratio" in text and "\\boxed{}" in text
    # a base model continues after "Answer:", so a bare letter is read as the answer line
    s = run_suite(suite, scripted({"q1": " A", "q2": " A"})).summary()
    assert s["tasks"]["mc"]["accuracy"] == 0.5 and s["lang"]["en"]["n"] == 2
