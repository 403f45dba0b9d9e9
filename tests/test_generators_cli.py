"""`huijin synth run RECIPE` for every recipe in recipes/synthesis: the programmatic ones with no endpoint,
the teacher ones against a configured endpoint (the local scripted server, named in a teachers file)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_generators_teacher import PASSAGE, Teacher  # tests/ is on sys.path (pytest rootdir)
from typer.testing import CliRunner

from huijin.cli import app
from synthesis.testing import FakeOpenAIServer

runner = CliRunner()
RECIPES = Path(__file__).resolve().parent.parent / "recipes" / "synthesis"


def synth(*args, store):
    res = runner.invoke(app, ["synth", "run", *args, "--store", str(store), "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_every_recipe_is_covered():
    names = {p.stem for p in RECIPES.glob("*.yaml")}
    assert names == {"programmatic_tables", "agentic_tasks", "grounded_sft", "evolution", "advisory_dialogues",
                     "rejection_sampling", "authored_rl", "agentic_sft", "judge_filter", "annotate",
                     # run (and their keys checked) in tests/test_post_training_data.py and tests/test_scenarios.py
                     "role_dialogues", "judge_pairs", "onpolicy_pairs", "business_scenarios"}


def test_programmatic_recipes_need_no_endpoint(tmp_path, shared_data):
    out = synth("programmatic_tables", "--limit", "40", store=tmp_path / "s")
    rl = next(o for o in out["outputs"] if o["output"] == "rl")
    assert rl["version"] == "fin-table-rl@1" and rl["kept"] == 40
    assert rl["inputs"] == rl["kept"] + rl["dropped"] + rl["quarantined"]  # the limit's leftovers are counted
    assert sum(out["coverage"]["rl"].values()) == 40
    out = synth("agentic_tasks", "--limit", "10", "--name", "ag", store=tmp_path / "s")
    assert [o["version"] for o in out["outputs"]] == ["ag@1", "ag-sft@1"]
    assert out["unused_keys"] == []


def test_recipe_keys_nobody_reads_are_reported(tmp_path, shared_data):
    out = synth("programmatic_tables", "--limit", "5", "--set", "per_tabel=2", "--set", "no_such_setting=3",
                store=tmp_path / "s")
    assert out["unused_keys"] == ["no_such_setting", "per_tabel"]
    # issue 18: a key close to one the recipe has is a typo, refused before any work
    res = runner.invoke(app, ["synth", "run", "programmatic_tables", "--set", "generate.per_table=3",
                              "--store", str(tmp_path / "s")])
    assert res.exit_code == 2 and "did you mean 'generate'?" in res.output
    res = runner.invoke(app, ["synth", "run", "programmatic_tables", "--limit", "5", "--set", "per_tabel=2",
                              "--store", str(tmp_path / "s")])
    assert res.exit_code == 0 and "never read" in res.output and "per_tabel" in res.output


def test_teacher_recipes_against_a_configured_endpoint(tmp_path, shared_data):
    from catalogs import Store

    store = tmp_path / "s"
    s = Store.open(store)
    with s.writer("fin-web", kind="doc") as w:
        w.write([{"text": PASSAGE * 3, "lang": "en", "id": "a"}, {"text": PASSAGE * 2, "lang": "en", "id": "b"}])
    with FakeOpenAIServer(responder=Teacher()) as srv:
        teachers = tmp_path / "teachers.yaml"
        teachers.write_text(f"endpoints:\n  - name: scripted\n    base_url: {srv.base_url}\n    model: fake\n"
                            "    max_concurrency: 8\n    timeout: 10\n")
        t = ["--endpoint", "scripted", "--teachers", str(teachers)]
        synth("programmatic_tables", "--limit", "12", store=store)
        synth("agentic_tasks", "--limit", "3", store=store)
        results = {
            "grounded_sft": synth("grounded_sft", *t, "--limit", "2", "--set", "min_passage_chars=200", store=store),
            "evolution": synth("evolution", *t, "--limit", "13", store=store),
            "advisory_dialogues": synth("advisory_dialogues", *t, "--limit", "4", store=store),
            "rejection_sampling": synth("rejection_sampling", *t, "--limit", "3", "--set", "k=2", store=store),
            "judge_filter": synth("judge_filter", *t, store=store),
            "annotate": synth("annotate", *t, "--limit", "2", store=store),
        }
        # the scripted teacher's authored programs all miss their stated answers, and its tool-use trajectories
        # all score below min_reward: 0 kept, so (issue 18) no empty version, a non-zero exit with the drop
        # reasons instead
        for recipe, extra, reason, out in (("authored_rl", [], "stated_answer_mismatch", "fin-authored-rl"),
                                           ("agentic_sft", ["--set", "max_turns=3"], "low_reward",
                                            "fin-agentic-teacher-sft")):
            res = runner.invoke(app, ["synth", "run", recipe, *t, "--limit", "5", *extra, "--store", str(store)])
            flat = " ".join(res.output.split())
            assert res.exit_code == 1 and "kept no row, so no version was written" in flat, res.output
            assert reason in flat and out not in [m["name"] for m in s.ls()]
        assert srv.n_requests > 0
    for name, out in results.items():
        assert out["teacher"] is not None, name
        # every key of every shipped recipe is read by its generator (grounded_sft's rubrics only with judge: true)
        assert out["unused_keys"] == (["rubrics"] if name == "grounded_sft" else []), (name, out["unused_keys"])
        for o in out["outputs"]:
            assert o["version"], (name, o)
            assert o["inputs"] == o["kept"] + o["dropped"] + o["quarantined"], (name, o)
    assert results["evolution"]["stats"]["coverage_ratio"] == 1.0
    assert results["grounded_sft"]["outputs"][0]["kept"] >= 2


def test_post_steps_run_the_curation_verbs(tmp_path, shared_data):
    from catalogs import Store

    out = synth("programmatic_tables", "--limit", "60", "--post", store=tmp_path / "s")
    assert [p["rc"] for p in out["post"]] == [0, 0]
    assert "curate decontaminate --input fin-table-rl@1" in out["post"][0]["step"]
    decont = Store.open(tmp_path / "s").resolve("fin-table-rl-decont")
    assert decont.kind == "rl" and 0 < decont.rows <= 60
    assert (tmp_path / "s" / "synth-work" / "programmatic_tables" / "dedup-fin-table-sft.jsonl").is_file()


def test_cli_errors(tmp_path):
    res = runner.invoke(app, ["synth", "run", "nope", "--store", str(tmp_path / "s")])
    assert res.exit_code != 0 and "no recipe" in res.output
    res = runner.invoke(app, ["synth", "run", "annotate", "--store", str(tmp_path / "s")])
    assert res.exit_code != 0 and "fin-web" in res.output  # the input version does not exist


@pytest.mark.parametrize("bad", ["novalue", "=3"])
def test_bad_set(tmp_path, bad):
    res = runner.invoke(app, ["synth", "run", "programmatic_tables", "--set", bad, "--store", str(tmp_path / "s")])
    assert res.exit_code != 0 and "KEY=VALUE" in res.output


def test_teacher_errors_are_one_line_before_any_work_and_failures_are_explained(tmp_path, monkeypatch):
    """Unset key variable / unknown endpoint: one clear error, no traceback, no request sent. A run whose rows
    all fail says why (quarantine reasons) and, on the cached rerun, how to ask again."""
    store = str(tmp_path / "s")
    with FakeOpenAIServer(responder=lambda body: "not json at all") as srv:
        teachers = tmp_path / "teachers.yaml"
        teachers.write_text(f"endpoints:\n  - name: local\n    base_url: {srv.base_url}\n    model: fake\n"
                            "    api_key_env: HUIJIN_TEST_CLI_KEY\n    parse_retries: 0\n")
        args = ["synth", "run", "advisory_dialogues", "--limit", "2", "--store", store, "--teachers", str(teachers)]
        monkeypatch.delenv("HUIJIN_TEST_CLI_KEY", raising=False)
        res = runner.invoke(app, [*args, "--endpoint", "local"])
        assert res.exit_code == 1 and "HUIJIN_TEST_CLI_KEY is not set" in res.output, res.output
        res = runner.invoke(app, [*args, "--endpoint", "nope"])
        assert res.exit_code == 1 and "no endpoint 'nope'" in res.output and "known: ['local']" in res.output
        assert "Traceback" not in res.output and srv.n_requests == 0
        monkeypatch.setenv("HUIJIN_TEST_CLI_KEY", "sk-cli-test-SECRET")
        res = runner.invoke(app, [*args, "--endpoint", "local", "--endpoints", str(teachers)])  # either name
        # every row failed: exit 1, no version, one line that says why (issue 19 item 8)
        assert res.exit_code == 1, res.output
        assert "all 2 teacher requests" in res.output and "no version written" in res.output
        assert "unparseable" in res.output and "sk-cli-test-SECRET" not in res.output
        sent = srv.n_requests
        res = runner.invoke(app, [*args, "--endpoint", "local"])
        assert res.exit_code == 1 and srv.n_requests == sent  # the model's bad replies come from the cache…
        assert "--retry-failed all" in res.output  # …and the message says how to ask again
        res = runner.invoke(app, [*args, "--endpoint", "local", "--retry-failed", "all"])
        assert res.exit_code == 1 and srv.n_requests > sent


def test_export_and_regenerate_usage_errors(tmp_path, shared_data):
    store = tmp_path / "s"
    synth("programmatic_tables", "--limit", "5", store=store)
    res = runner.invoke(app, ["synth", "run", "programmatic_tables", "--regenerate", "lenght", "--store", str(store)])
    assert res.exit_code == 1 and "--regenerate takes length or failed" in res.output
    res = runner.invoke(app, ["synth", "export", "fin-table-rl@1", "--output", str(tmp_path), "--store", str(store)])
    assert res.exit_code == 1 and "is a folder" in res.output  # one line, not pyarrow's IsADirectoryError
    res = runner.invoke(app, ["synth", "export", "fin-table-rl@1", "--format", "trl", "--output",
                              str(tmp_path / "x" / "rl.parquet"), "--store", str(store)])
    assert res.exit_code == 0, res.output
    import pyarrow.parquet as pq

    rows = pq.read_table(tmp_path / "x" / "rl.parquet").to_pylist()
    assert len(rows) == 5 and all(r["prompt"][-1]["role"] == "user" for r in rows)
