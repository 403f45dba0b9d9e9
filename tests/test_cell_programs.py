"""Cell references in FinQA programs (``revenue@2019``): resolved by the one interpreter, written by the
programmatic generator so that a small model chooses cells instead of copying digits."""

from __future__ import annotations

import json

import pytest

from finance.arith import ProgramError, run_finqa
from synthesis.generators.programmatic import cell_program
from synthesis.rewards import score

TABLE = [["(in millions of USD)", "2019", "2018"], ["Total revenue", "8,464", "9,086"],
         ["Cost of revenue", "3,589", "5,541"], ["Operating income", "3,327", "3,589"]]


@pytest.mark.parametrize("program,value", [
    ("subtract(total revenue@2019, Total Revenue@2018), divide(#0, total revenue@2018)", (8464 - 9086) / 9086),
    ("add(cost of revenue@2018, 10)", 5551.0),
    ("divide(Operating income@2019, const_100)", 33.27),
])
def test_cell_references_read_the_table(program, value):
    assert run_finqa(program, TABLE) == pytest.approx(value)


@pytest.mark.parametrize("program,table,why", [
    ("add(foo@2019, 1)", TABLE, "no row named 'foo'"),
    ("add(total revenue@2020, 1)", TABLE, "no column named '2020'"),
    ("add(total revenue@2019, 1)", None, "no table was given"),
    ("add(x@2019, 1)", [["", "2019"], ["x", "n/a"]], "is not a number"),
    ("add(x@2019, 1)", [["", "2019"], ["x", "1"], ["X", "2"]], "more than one row"),
])
def test_bad_cell_references_are_program_errors(program, table, why):
    with pytest.raises(ProgramError, match=why):
        run_finqa(program, table)


def test_cell_program_rewrites_cell_values_and_keeps_the_value():
    prog = "subtract(8464, 9086), divide(#0, 9086)"
    cells = cell_program(prog, TABLE)
    assert cells == "subtract(Total revenue@2019, Total revenue@2018), divide(#0, Total revenue@2018)"
    assert run_finqa(cells, TABLE) == run_finqa(prog)
    assert cell_program("add(8464, const_100)", TABLE) == "add(Total revenue@2019, const_100)"
    assert cell_program("add(3589, 1)", TABLE) is None  # 3,589 sits in two cells: ambiguous, no rewrite
    assert cell_program("add(12345, 1)", TABLE) is None  # not in the table: the model would have to copy it


def test_program_spec_scores_a_cell_program_by_its_value():
    spec = {"spec_version": 1, "type": "program", "dsl": "finqa", "table": TABLE,
            "program": "divide(Operating income@2019, Total revenue@2019)"}
    assert score(spec, "<answer>divide(operating income@2019, total revenue@2019)</answer>").score == 1.0
    assert score(spec, "<answer>divide(operating income@2019, total revenue@2018)</answer>").score == 0.0
    assert score(spec, "<answer>divide(operating income@2019, nothing@2019)</answer>").score == 0.0


def test_programs_only_recipe_writes_cell_variants_and_counts_the_replaced(store, tmp_path):
    from huijin.demo.corpus import generate
    from synthesis.generators.runner import run

    c = generate(tmp_path / "raw", n_filings=4, n_tables=8)
    rep = run({"generator": "programmatic_tables", "inputs": [str(c.tables)], "seed": 0, "program_fraction": 1.0,
               "program_cells": True, "programs_only": True, "outputs": {"rl": "cells-rl", "sft": "cells-sft"}}, store)
    rl = rep.manifests["rl"]
    assert rl.rows > 8 and rl.drops["replaced_by_program_variant"] >= rl.rows
    assert rl.inputs == rl.rows + sum(rl.drops.values()) + rl.n_quarantined
    for r in store.iter_records(rl.ref):
        spec = r["reward_spec"]
        assert '"type":"program"' in spec.replace(" ", "") and "@" in spec


def test_solution_templates_keep_the_other_templates_rl_only(store, tmp_path):
    from huijin.demo.corpus import generate
    from synthesis.generators import SynthRecipeError
    from synthesis.generators.runner import run

    c = generate(tmp_path / "raw", n_filings=4, n_tables=8)
    recipe = {"generator": "programmatic_tables", "inputs": [str(c.tables)], "seed": 0, "program_fraction": 1.0,
              "program_cells": True, "programs_only": True}

    def synth(name: str, templates):
        m = run({**recipe, "solution_templates": templates, "outputs": {"rl": f"{name}-rl", "sft": f"{name}-sft"}},
                store).manifests
        return m["rl"], m["sft"]

    def rl_ids(ref: str, *names: str) -> set[str]:
        return {r["id"] for r in store.iter_records(ref) if (json.loads(r["meta"]).get("template") or "imported") in names}

    def solved(ref: str) -> set[str]:
        return {json.loads(r["meta"])["rl_id"] for r in store.iter_records(ref)}

    rl, sft = synth("part", ["difference", "growth"])
    assert rl_ids(rl.ref, "difference", "growth") and rl_ids(rl.ref, "share", "average", "imported")  # RL keeps all
    assert solved(sft.ref) == rl_ids(rl.ref, "difference", "growth")  # a solution for exactly the named ones
    assert sft.inputs == rl.rows and sft.rows + sum(sft.drops.values()) == sft.inputs  # every task counted
    assert sft.drops["rl_only_template"] == len(rl_ids(rl.ref, "share", "margin", "average", "sum", "imported"))
    # a share: that part of a template's tasks gets a solution, chosen per task (the other templates' shares do not
    # move the pick), so a rerun or another recipe picks the same tasks
    growth = rl_ids(rl.ref, "growth")
    half = solved(synth("half", {"difference": 1.0, "growth": 0.5})[1].ref) & growth
    alone = solved(synth("alone", {"growth": 0.5, "difference": 0.0})[1].ref)
    assert 0 < len(half) < len(growth) and alone == half
    for bad, why in [(["ratio"], r"\['ratio'\] not made by this run"), ({"growth": 2}, r"share in \[0, 1\]"),
                     ([], "a non-empty list"), ("growth", "a non-empty list")]:
        with pytest.raises(SynthRecipeError, match=f"recipe .*solution_templates: {why}"):
            synth("bad", bad)
    with pytest.raises(SynthRecipeError, match="solutions: false writes no solutions"):
        run({**recipe, "solutions": False, "solution_templates": ["growth"], "outputs": {"rl": "bad-rl"}}, store)
    with pytest.raises(SynthRecipeError, match="not made by this run"):
        run({**recipe, "import_questions": False, "solution_templates": ["imported"],
             "outputs": {"rl": "bad-rl", "sft": "bad-sft"}}, store)
