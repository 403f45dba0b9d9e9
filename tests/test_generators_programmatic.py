"""Programmatic RL tasks and worked solutions from the real shared FinQA / TAT-QA / ConvFinQA tables."""

from __future__ import annotations

import json

import pytest

from synthesis.generators import SynthRecipeError, run, run_recipe
from synthesis.generators.imports import ImportRejected, import_question
from synthesis.generators.solutions import solution_for
from synthesis.generators.tables import iter_contexts, numeric_grid, parse_cell
from synthesis.rewards import score


def _recipe(shared, **kw):
    r = {"name": "t-tables", "generator": "programmatic_tables", "seed": 0,
         "inputs": [str(shared / "finqa/train_100.json"), str(shared / "tatqa/tatqa_dataset_dev_80ctx.json"),
                    str(shared / "convfinqa/convfinqa_dev_100_pot_format.json")],
         "outputs": {"rl": "t-rl", "sft": "t-sft"}, "generate": {"per_table": 3, "zh_fraction": 0.2},
         "program_fraction": 0.2}
    r.update(kw)
    return r


@pytest.fixture(scope="module")
def tables_run(tmp_path_factory, shared_data):
    from catalogs import Store

    store = Store.open(tmp_path_factory.mktemp("store"))
    return store, run(_recipe(shared_data), store)


def test_parse_cell_accounting_forms():
    assert parse_cell("$ 93,500").value == 93500
    assert parse_cell("(1,234)").value == -1234
    c = parse_cell("27% ( 27 % )")
    assert c.value == 27 and c.percent
    assert parse_cell("—") is None and parse_cell("due October 2013") is None


def test_grid_reads_years_scale_and_transposes(shared_data):
    ctxs = {c.cid: c for _, _, c in iter_contexts(shared_data / "convfinqa/convfinqa_dev_100_pot_format.json")}
    g = numeric_grid(ctxs["convfinqa:Single_MRO/2007/page_134.pdf-1"].table)
    assert sorted(g.years().values()) == [2005, 2006, 2007]
    row = next(r for r in g.rows if r.label == "weighted average exercise price per share")
    assert sorted(c.value for c in row.cells.values()) == [25.14, 37.84, 60.94]
    # a table with years down the rows is read with the years as columns
    hedged = next(c for c in ctxs.values() if "gallons hedged" in c.table[0])
    gt = numeric_grid(hedged.table)
    assert set(gt.years().values()) >= {2017, 2018} and any(r.label == "gallons hedged" for r in gt.rows)


def test_counts_add_up_and_versions_written(tables_run):
    store, rep = tables_run
    for key, s in rep.outputs.items():
        m = rep.manifests[key]
        assert s["inputs"] == s["kept"] + sum(s["dropped"].values()) + s["quarantined"], key
        assert m.rows == s["kept"] > 0
        assert m.extra["counts"]["inputs"] == s["inputs"]
    assert rep.manifests["rl"].kind == "rl" and rep.manifests["sft"].kind == "sft"
    assert rep.outputs["rl"]["kept"] > 900  # 922 source questions + generated ones, minus duplicates
    origins = rep.manifests["rl"].extra["origins"]
    assert {"imported:finqa", "imported:tatqa", "imported:convfinqa"} <= set(origins)
    assert sum(v for k, v in origins.items() if k.startswith("generated:")) > 300


def test_every_task_has_a_gradable_spec_provenance_and_leaf(tables_run):
    from synthesis.taxonomy.model import load_taxonomy

    store, rep = tables_run
    leaves = set(load_taxonomy().leaf_ids())
    recs = list(store.iter_records(rep.manifests["rl"]))
    for r in recs:
        spec = json.loads(r["reward_spec"])
        assert spec["spec_version"] == 1 and spec["type"] in ("numeric", "exact", "set", "program")
        assert r["taxonomy"] in leaves
        assert r["source"]["generator"] == "programmatic_tables" and r["source"]["recipe"] == "t-tables"
        assert ("<answer>" if spec["type"] == "program" else "\\boxed{}") in r["prompt"][-1]["content"]
    # the gold itself, written in the box, scores 1 (no spec is ungradable or self-contradictory)
    from synthesis.generators.specs import boxed_answer

    bad = [r["id"] for r in recs if json.loads(r["reward_spec"])["type"] != "program"
           and score(r["reward_spec"], boxed_answer(json.loads(r["reward_spec"]))).score != 1.0]
    assert not bad, bad[:5]
    assert {r["lang"] for r in recs} == {"en", "zh"}


def test_tatqa_scale_and_percent_respected(tables_run):
    store, rep = tables_run
    recs = [r for r in store.iter_records(rep.manifests["rl"]) if json.loads(r["meta"]).get("dataset") == "tatqa"]
    by_q = {r["prompt"][-1]["content"].split("Question: ")[-1].split("\n")[0]: json.loads(r["reward_spec"])
            for r in recs}
    spec = by_q["What was the change in Total operating income in 2019 from 2018?"]
    assert spec["answer"] == 154 and spec["scale"] == "million"
    assert score(spec, "\\boxed{154}").score == 1.0
    assert score(spec, "\\boxed{\\$154 million}").score == 1.0
    assert score(spec, "\\boxed{154,000,000}").score == 1.0
    assert score(spec, "\\boxed{154 billion}").score == 0.0
    pct = by_q["What was the percentage change in Total operating income in 2019 from 2018?"]
    assert pct["unit"] == "percent" and pct["answer"] == 104.05
    assert score(pct, "\\boxed{104.05\\%}").score == 1.0
    assert score(pct, "\\boxed{1.0405}").score == 0.0  # no silent ×100


def test_finqa_percent_answer_accepts_explicit_forms(shared_data):
    ctx = next(c for _, _, c in iter_contexts(shared_data / "finqa/train_100.json"))
    t = import_question(ctx, ctx.questions[0])
    assert t.spec["unit"] == "percent" and abs(t.spec["answer"] - 34.719) < 1e-6
    assert score(t.spec, "so \\boxed{34.7\\%}").score == 1.0
    assert score(t.spec, "\\boxed{0.347}").score == 1.0  # allowed explicitly: "what portion" is ambiguous
    assert score(t.spec, "\\boxed{3.47\\%}").score == 0.0


def test_finqa_program_that_disagrees_is_quarantined(shared_data, store, tmp_path):
    recs = json.loads((shared_data / "finqa/train_100.json").read_text())[:3]
    recs[1]["qa"]["exe_ans"] = 12345.0  # the program no longer reproduces the answer
    recs[2] = {"nonsense": True}
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(recs))
    rep = run({"generator": "programmatic_tables", "inputs": [str(p)], "outputs": {"rl": "q-rl", "sft": "q-sft"},
               "generate": {"per_table": 0}}, store)
    s = rep.outputs["rl"]
    assert s["quarantined"] == 2 and s["kept"] == 1
    q = store.read_quarantine(rep.manifests["rl"]).to_pylist()
    reasons = " | ".join(x["reason"] for x in q)
    assert "program_disagrees" in reasons and "not a FinQA, TAT-QA or ConvFinQA record" in reasons
    assert {x["offset"] for x in q} == {1, 2}


def test_generated_answers_come_from_the_interpreter(tables_run):
    from finance.arith import run_finqa

    store, rep = tables_run
    gen = [r for r in store.iter_records(rep.manifests["rl"]) if json.loads(r["meta"])["origin"] == "generated"]
    templates = {json.loads(r["meta"])["template"] for r in gen}
    assert {"difference", "growth", "share", "average", "cagr"} <= templates
    for r in gen[:300]:
        meta, spec = json.loads(r["meta"]), json.loads(r["reward_spec"])
        v = run_finqa(meta["program"])
        expect = v * 100 if spec.get("unit") == "percent" and meta["template"] in (
            "growth", "share", "margin", "cagr") else v
        assert abs(expect - spec["answer"]) <= 1e-6 * max(1, abs(expect)), meta


def test_worked_solutions_verify_and_end_boxed(tables_run):
    store, rep = tables_run
    rl = {r["id"]: r for r in store.iter_records(rep.manifests["rl"])}
    sft = list(store.iter_records(rep.manifests["sft"]))
    assert len(sft) > 0.75 * len(rl)
    for s in sft[:400]:
        meta = json.loads(s["meta"])
        task = rl[meta["rl_id"]]
        final = s["messages"][-1]
        end = "<answer>" if json.loads(task["reward_spec"])["type"] == "program" else "\\boxed{"
        assert final["role"] == "assistant" and end in final["content"].splitlines()[-1]
        assert score(task["reward_spec"], final["content"]).score == 1.0
        assert s["messages"][:-1] == task["prompt"]


def test_solution_renders_cagr_steps():
    spec = {"spec_version": 1, "type": "numeric", "answer": 26.4112, "unit": "percent", "rel_tol": 1e-3}
    text = solution_for("divide(3955, 2475), divide(const_1, const_2), exp(#0, #1), subtract(#2, const_1)",
                        "finqa", spec, [("net mw", "2002", 3955), ("net mw", "2000", 2475)])
    assert "Step 3: 1.598 ^ 0.5 = 1.2641" in text and text.endswith("\\boxed{26.41\\%}.")


def test_deterministic_for_a_seed_and_limit(shared_data, tmp_path):
    from catalogs import Store

    a = run_recipe(_recipe(shared_data, seed=3), Store.open(tmp_path / "a"), limit=150)
    b = run_recipe(_recipe(shared_data, seed=3), Store.open(tmp_path / "b"), limit=150)
    assert a.rows == 150 and a.shards[0].sha256 == b.shards[0].sha256


def test_accepts_demo_tables_file(tmp_path, store):
    from huijin.demo.corpus import generate

    corpus = generate(tmp_path / "demo", n_filings=4)
    m = run_recipe({"generator": "programmatic_tables", "inputs": [str(corpus.tables)]}, store, name="demo-rl")
    assert m.ref == "demo-rl@1" and m.rows >= 40
    sft = store.resolve("demo-rl-sft")
    assert sft.rows > 0
    recs = list(store.iter_records(m))
    growth = [r for r in recs if "percentage change in total revenue" in r["prompt"][-1]["content"]]
    assert growth  # the demo's own questions are imported with their programs


def test_recipe_errors_are_clear(store):
    with pytest.raises(SynthRecipeError, match="not found"):
        run({"generator": "programmatic_tables", "inputs": ["/nope/x.json"]}, store)
    with pytest.raises(SynthRecipeError, match="unknown generator"):
        run({"generator": "nope"}, store)
    with pytest.raises(SynthRecipeError, match="no recipe"):
        run("does-not-exist", store)


def test_import_rejects_unreadable_gold():
    from synthesis.generators.tables import SourceQuestion, TableContext

    ctx = TableContext("x", "tatqa", [["", "2019"], ["a", "1"]], "")
    with pytest.raises(ImportRejected):
        import_question(ctx, SourceQuestion("q", "how much?", "n/a", "arithmetic"))


def test_program_writing_variants(tables_run):
    store, rep = tables_run
    recs = [r for r in store.iter_records(rep.manifests["rl"]) if json.loads(r["reward_spec"])["type"] == "program"]
    assert len(recs) > 100
    leaves = {r["taxonomy"] for r in recs}
    assert leaves == {"numerical_reasoning/table_text_qa/program_generation",
                      "numerical_reasoning/conversational_qa/multi_turn_program"}
    for r in recs[:200]:
        spec = json.loads(r["reward_spec"])
        assert score(spec, f"<answer>{spec['program']}</answer>").score == 1.0
        assert score(spec, "<answer>add(1, 1)</answer>").score == 0.0
        assert score(spec, "<answer>__import__('os').system('id')</answer>").score == 0.0
    sft = [s for s in store.iter_records(rep.manifests["sft"]) if "<answer>" in s["messages"][-1]["content"]]
    assert len(sft) == len(recs)
