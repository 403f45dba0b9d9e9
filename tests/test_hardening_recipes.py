"""Issue 19 items 3-5 as an attacker or a careless user tries them: recipe steps that are not pipeline steps,
names that walk out of the store, and truncated WARC archives that lose their last record silently."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from curation.pipeline import plan_run, run_recipe, summary
from curation.readers import read_all
from curation.recipe import CurationRecipeError, load_recipe, register_step_package
from huijin.cli import app

runner = CliRunner()


def _jsonl(path: Path, texts: list[str]) -> str:
    path.write_text("".join(json.dumps({"text": t, "id": f"d{i}"}) + "\n" for i, t in enumerate(texts)))
    return str(path)


# -- item 3: recipe steps resolve only to PipelineStep subclasses (or registered names) -----------------------

def test_os_system_step_is_refused_before_anything_runs(tmp_path):
    marker = tmp_path / "pwned"
    recipe = {"steps": [{"os:system": {"command": f"id > {marker}"}}]}
    with pytest.raises(CurationRecipeError, match="os:system.*not an allowed step package"):
        load_recipe(recipe)
    with pytest.raises(CurationRecipeError):
        load_recipe(recipe).steps[0].build()
    assert not marker.exists()


def test_cli_refuses_os_system_with_a_message_and_creates_nothing(tmp_path):
    marker, store = tmp_path / "pwned", tmp_path / "store"
    rp = tmp_path / "evil.yaml"
    rp.write_text(yaml.safe_dump({"steps": [{"os:system": {"command": f"id > {marker}"}}]}))
    r = runner.invoke(app, ["curate", "run", str(rp), "-i", _jsonl(tmp_path / "in.jsonl", ["a"]),
                            "--store", str(store)])
    assert r.exit_code != 0
    assert not marker.exists() and not store.exists()
    err = r.output.strip()
    assert "error:" in err and err != "error:" and "os:system" in err


@pytest.mark.parametrize("target, why", [
    ("curation.sources:expand_inputs", "not a datatrove PipelineStep"),  # a function in an allowed package
    ("curation.readers:BadInput", "not a datatrove PipelineStep"),  # a class, but not a step
    ("subprocess:run", "not an allowed step package"),
    ("builtins:eval", "not an allowed step package"),
    ("curation.readers:CurationReader.__init__", "not a class name"),
    ("../x:Y", "not an allowed step package"),
])
def test_dotted_paths_must_be_pipeline_steps(target, why):
    for item in ({target: {}}, {"step": target, "params": {}}):
        with pytest.raises(CurationRecipeError, match=why):
            load_recipe({"steps": [item]})


def test_modules_outside_the_allow_list_are_not_imported(tmp_path, monkeypatch):
    marker = tmp_path / "imported"
    (tmp_path / "sneaky_steps.py").write_text(f"open({str(marker)!r}, 'w').write('x')\nclass S: pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(CurationRecipeError, match="not an allowed step package"):
        load_recipe({"steps": ["sneaky_steps:S"]})
    assert not marker.exists() and "sneaky_steps" not in sys.modules


def test_pipeline_steps_and_allowed_packages_still_work(tmp_path, monkeypatch):
    r = load_recipe({"steps": [{"step": "datatrove.pipeline.filters:GopherQualityFilter", "params": {}},
                               {"curation.filters:MinLength": {"min_chars": 5}}, "extract"]})
    assert [type(s.build()).__name__ for s in r.steps] == ["GopherQualityFilter", "MinLength", "Extract"]
    (tmp_path / "my_steps.py").write_text(
        "from datatrove.pipeline.filters.base_filter import BaseFilter\n"
        "class KeepAll(BaseFilter):\n    name = 'keep'\n    def filter(self, doc):\n        return True\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("HUIJIN_STEP_PACKAGES", "my_steps")
    assert type(load_recipe({"steps": ["my_steps:KeepAll"]}).steps[0].build()).__name__ == "KeepAll"
    monkeypatch.delenv("HUIJIN_STEP_PACKAGES")
    with pytest.raises(CurationRecipeError):
        load_recipe({"steps": ["my_steps:KeepAll"]})
    from curation import recipe as rmod

    monkeypatch.setattr(rmod, "STEP_PACKAGES", set(rmod.STEP_PACKAGES))
    register_step_package("my_steps")
    assert load_recipe({"steps": ["my_steps:KeepAll"]}).steps[0].resolve().__name__ == "KeepAll"


def test_a_recipe_object_is_checked_again_before_a_run(store, tmp_path):
    r = load_recipe({"steps": ["extract"]})
    r.steps[0].name = "os:system"  # mutated after loading
    with pytest.raises(CurationRecipeError):
        plan_run(r, [_jsonl(tmp_path / "in.jsonl", ["a"])], name="ok", store=store)
    assert list((store.root / "staging").iterdir()) == []


# -- item 4: names validated before any file is created ------------------------------------------------------

@pytest.mark.parametrize("bad", ["../../../../escaped", "../escaped", "a/b", "", ".hidden", "x" * 200])
def test_bad_names_create_no_folder(store, tmp_path, bad):
    before = sorted(p for p in tmp_path.rglob("*"))
    inp = _jsonl(tmp_path / "in.jsonl", ["a"])
    with pytest.raises(ValueError, match="invalid dataset name"):
        if bad:
            plan_run({"steps": []}, [inp], name=bad, store=store)
        else:  # no --name: the recipe's own name is the one checked
            plan_run({"name": "../../up", "steps": []}, [inp], store=store)
    after = sorted(p for p in tmp_path.rglob("*"))
    assert after == sorted({*before, tmp_path / "in.jsonl"})
    assert list((store.root / "staging").iterdir()) == []


def test_cli_name_traversal_creates_nothing_outside_the_store(tmp_path):
    deep = tmp_path / "a" / "b" / "c" / "d"
    deep.mkdir(parents=True)
    store = deep / "store"
    inp = _jsonl(tmp_path / "in.jsonl", ["some text"])
    before = sorted(tmp_path.rglob("*"))
    r = runner.invoke(app, ["curate", "run", "fin_web", "-i", inp, "--store", str(store),
                            "--name", "../../../../X"])
    assert r.exit_code != 0 and "invalid dataset name" in r.output
    assert sorted(tmp_path.rglob("*")) == before  # not even the store folder
    assert not any(p.name.startswith(("X-", "_work-")) for p in tmp_path.rglob("*"))


# -- item 5: a truncated .warc.gz counts its partial last record ---------------------------------------------

def _truncations(raw: bytes, n: int = 12) -> list[int]:
    step = len(raw) // (n + 1)
    return [step * (i + 1) for i in range(n)]


@pytest.mark.parametrize("rel", ["dolma/sample-0001.warc.gz", "resiliparse/warcfile.warc.gz",
                                 "warcio/example.warc", "warcio/example.warc.gz", "warcio/example.arc.gz"])
def test_truncated_archives_quarantine_the_partial_record(shared_data, tmp_path, rel):
    src = shared_data / "warc" / rel
    raw = src.read_bytes()
    full_docs, full = read_all([str(src)])
    assert not [q for q in full.of(0).quarantine if q["reason"].startswith("truncated")]
    for cut in _truncations(raw):
        p = tmp_path / src.name
        p.write_bytes(raw[:cut])
        docs, led = read_all([str(p)])
        acc = led.of(0)
        truncated = [q for q in acc.quarantine if q["reason"].startswith(("truncated_record", "bad_warc"))]
        assert len(truncated) == 1, (cut, acc.quarantine)
        assert acc.inputs == len(docs) + sum(acc.reader_drops.values()) + len(acc.quarantine)
        assert len(docs) <= len(full_docs)


def test_truncated_warc_gz_in_a_run_is_balanced(shared_data, store, tmp_path):
    raw = (shared_data / "warc" / "dolma" / "sample-0001.warc.gz").read_bytes()
    p = tmp_path / "cut.warc.gz"
    p.write_bytes(raw[: int(len(raw) * 0.99)])  # inside the last record
    m = run_recipe({"name": "cut", "steps": ["extract"]}, [str(p)], store=store)
    s = summary(m)
    assert s["balanced"], s
    assert any(k.startswith("truncated_record") for k in s["quarantine"]), s
    q = store.read_quarantine(m).to_pylist()
    assert any(str(x["reason"]).startswith("truncated_record") and x["file"] == str(p) for x in q)
