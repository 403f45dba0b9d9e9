"""The CPT mixture builder: target vs achieved token shares, epoch caps, determinism, lineage, token
counting with a real tokenizer or the estimate, recipe errors, and the `huijin curate mix` verb."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from curation.mixture import MixtureRecipeError, build_mixture, estimate_tokens, load_recipe, recipe_from_dict
from huijin.cli import app

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_RECIPE = ROOT / "recipes" / "mixture" / "cpt_default.yaml"


@pytest.fixture
def sources(store):
    fin = [{"text": f"Quarterly revenue of segment {i} rose {i % 7}% on higher net interest margin. " * (1 + i % 3),
            "lang": "en", "source": "fin"} for i in range(60)]
    fin += [{"text": f"第{i}季度公司营业收入同比增长{i % 9}%，净利润率提升。" * 3, "lang": "zh", "source": "fin"}
            for i in range(20)]
    gen = [{"text": f"Paragraph {i} about rivers, mountains and the history of town number {i}. " * 4,
            "lang": "en", "source": "wiki"} for i in range(400)]
    with store.writer("fin-web", kind="doc") as w:
        w.write(fin)
    with store.writer("general-web", kind="doc") as w:
        w.write(gen)
    return store


def _recipe(**kw):
    d = {"seed": 5, "sources": [{"name": "finance", "ref": "fin-web", "share": 0.6, "max_epochs": 3},
                                {"name": "general", "ref": "general-web", "share": 0.4, "max_epochs": 1}]}
    d.update(kw)
    return recipe_from_dict(d)


def test_shares_caps_and_lineage(sources):
    m, rep = build_mixture(sources, _recipe(total_tokens=12_000), "cpt-mix")
    by = {s["source"]: s for s in rep["sources"]}
    fin, gen = by["finance"], by["general"]
    assert fin["target_tokens"] == 7_200 and gen["target_tokens"] == 4_800
    # the finance set is small: upsampled, within 3 epochs
    assert 1 < fin["epochs"] <= 3 and not fin["capped"]
    for s in (fin, gen):
        assert abs(s["achieved_tokens"] - s["target_tokens"]) / s["target_tokens"] < 0.02
        assert abs(s["achieved_share"] - s["target_share"]) < 0.01
    assert {p["name"] for p in m.parents} == {"fin-web", "general-web"}
    assert m.kind == "doc" and m.rows == rep["documents"] and m.extra["tokens"] == rep["achieved_tokens"]
    assert m.extra["token_count"].startswith("estimate:")
    rows = list(sources.iter_records(m))
    per_source = Counter(json.loads(r["meta"])["mix"]["source"] for r in rows)
    assert set(per_source) == {"fin-web@1", "general-web@1"}
    assert sum(estimate_tokens(r["text"]) for r in rows) == rep["achieved_tokens"]
    # every source doc appears at most max_epochs times; full epochs come before the partial one
    fin_ids = Counter(r["id"] for r in rows if json.loads(r["meta"])["mix"]["source"] == "fin-web@1")
    assert max(fin_ids.values()) <= 3 and len(fin_ids) == 80
    # shuffled: the two sources are interleaved, not concatenated
    order = [json.loads(r["meta"])["mix"]["source"] for r in rows[:50]]
    assert len(set(order)) == 2
    # counts add up: inputs = source docs + upsampled copies = rows + not sampled
    copies = sum(fin_ids.values()) - len(fin_ids)
    assert copies > 0 and rep["sources"][0]["upsampled_copies"] == copies
    assert m.inputs == 480 + copies == m.rows + sum(m.drops.values()) + sum(m.quarantined.values())
    assert m.drops["not_sampled:general"] == 400 - len({r["id"] for r in rows} - set(fin_ids))


def test_cap_limits_upsampling_and_is_reported(sources):
    _, rep = build_mixture(sources, _recipe(total_tokens=200_000), "cpt-capped")
    fin = rep["sources"][0]
    assert fin["capped"] and fin["epochs"] == pytest.approx(3.0) and fin["achieved_tokens"] < fin["target_tokens"]


def test_natural_budget_fills_the_binding_cap(sources):
    _, rep = build_mixture(sources, _recipe(total_tokens=None), "cpt-natural")
    fin, gen = rep["sources"]
    # general (max 1 epoch, share 0.4) binds or finance (3 epochs, 0.6) does: one of them is at its cap
    assert gen["epochs"] == pytest.approx(1.0, abs=0.01) or fin["epochs"] == pytest.approx(3.0, abs=0.01)
    assert not fin["capped"] and not gen["capped"]


def test_deterministic_and_seed_sensitive(sources):
    m1, _ = build_mixture(sources, _recipe(total_tokens=20_000), "det")
    m2, _ = build_mixture(sources, _recipe(total_tokens=20_000), "det")
    assert m1.ref == m2.ref and m1.hash == m2.hash  # same recipe, same inputs: same version
    m3, _ = build_mixture(sources, _recipe(total_tokens=20_000, seed=6), "det")
    assert m3.version == 2 and m3.hash != m1.hash


def test_tokenizer_counts(sources, tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator((r["text"] for r in sources.iter_records("fin-web@1")),
                            trainers.BpeTrainer(vocab_size=300, special_tokens=["[UNK]"]))
    path = tmp_path / "tokenizer.json"
    tok.save(str(path))
    m, rep = build_mixture(sources, _recipe(total_tokens=20_000, tokenizer=str(path)), "tok-mix")
    assert rep["token_count"] == "tokenizer:tokenizer.json" and m.extra["token_count"] == "tokenizer:tokenizer.json"
    rows = list(sources.iter_records(m))
    assert sum(len(tok.encode(r["text"], add_special_tokens=False).ids) for r in rows) == rep["achieved_tokens"]


def test_recipe_errors():
    with pytest.raises(MixtureRecipeError, match="sum to 1"):
        recipe_from_dict({"sources": [{"ref": "a", "share": 0.5}, {"ref": "b", "share": 0.6}]})
    with pytest.raises(MixtureRecipeError, match="needs 'ref' and 'share'"):
        recipe_from_dict({"sources": [{"ref": "a"}]})
    with pytest.raises(MixtureRecipeError, match="max_epochs"):
        recipe_from_dict({"sources": [{"ref": "a", "share": 1, "max_epochs": 0}]})
    with pytest.raises(MixtureRecipeError, match="no source named"):
        load_recipe(DEFAULT_RECIPE, shares={"nope": 0.5})


def test_default_recipe_is_a_general_replay_mixture():
    r = load_recipe(DEFAULT_RECIPE)
    assert load_recipe("cpt_default") == r  # a bare name finds the shipped recipe
    general = {s.name: s.share for s in r.sources}["general"]
    assert 0.3 <= general <= 0.5
    r2 = load_recipe(DEFAULT_RECIPE, shares={"general": 0.5, "finance": 0.5})
    assert {s.name: s.share for s in r2.sources} == {"finance": 0.5, "general": 0.5}


def test_mix_verb(sources, tmp_path):
    st = str(sources.root)
    r = CliRunner().invoke(app, ["curate", "mix", str(DEFAULT_RECIPE), "--name", "cpt", "--total-tokens", "15000",
                                 "--share", "finance=0.5", "--share", "general=0.5", "--report",
                                 str(tmp_path / "mix.json"), "--store", st, "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["version"] == "cpt@1" and out["budget_tokens"] == 15000
    assert [s["achieved_share"] for s in out["sources"]] == pytest.approx([0.5, 0.5], abs=0.01)
    assert json.loads((tmp_path / "mix.json").read_text())["documents"] == out["documents"]
    bad = CliRunner().invoke(app, ["curate", "mix", str(DEFAULT_RECIPE), "--name", "cpt", "--source",
                                   "finance=missing-set", "--store", st])
    assert bad.exit_code != 0 and "missing-set" in bad.output
