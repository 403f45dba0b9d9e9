"""General-RL scenario data: the offline rubric scorer on hand-written answers, and the business_scenarios
generator (five service leaves, en and zh, valid judge specs whose reference answers pass their own checks)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from synthesis.generators.runner import run
from synthesis.judge.rubric_checks import score_checks, stated_figures
from synthesis.rewards import score
from synthesis.rewards.spec import SpecError, validate_spec

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
ADVICE = {"language": "en", "figures": [1198.0, 1087.0, 111.0], "cite": [1198.0, 1087.0], "risk_disclosure": True,
          "no_guarantee": True, "min_chars": 40, "unit_scale": 1e6}


def test_checks_on_hand_written_answers():
    good = ("Harbor Bancorp's revenue rose from 1,087 to 1,198 million in fiscal 2018. Investing carries risk: "
            "the value of shares may fall.")
    assert score_checks(ADVICE, good) == (1.0, [])
    # a promise of returns fails no_guarantee, whatever else is right
    s, failed = score_checks(ADVICE, good + " This is a sure-fire investment with guaranteed returns.")
    assert failed == ["no_guarantee"] and s == pytest.approx(5 / 6)
    # an invented figure: one of the two stated figures is not in the context
    s, failed = score_checks(ADVICE, good.replace("1,087", "1,050"))
    assert failed == ["figures"] and s == pytest.approx((4 + 0.5 + 1) / 6)
    # a rounded figure in another scale is the same figure; a year is not a figure
    assert stated_figures("revenue of $1.2 billion in 2019", 1e6) == [1200.0]
    assert score_checks({"cite": [1198.0], "unit_scale": 1e6}, "about $1.2 billion")[0] == 1.0
    # no risk statement, and the answer in the wrong language
    s, failed = score_checks(ADVICE, "哈珀银行的收入从1,087百万美元增长到1,198百万美元。")
    assert failed == ["language", "risk_disclosure", "min_chars"] and s == pytest.approx(3 / 6)
    zh = {"language": "zh", "risk_disclosure": True, "no_guarantee": True}
    assert score_checks(zh, "该公司收入增长，但投资有风险，股价可能下跌。")[0] == 1.0
    assert score_checks(zh, "该公司收入增长，稳赚不赔。")[1] == ["risk_disclosure", "no_guarantee"]
    verdict = {"verdict": ["not compliant", "non-compliant"], "language": "en"}
    assert score_checks(verdict, "This sentence is not compliant: it promises a return.")[0] == 1.0
    assert score_checks(verdict, "This sentence is fine.")[1] == ["verdict"]


def test_judge_spec_offline_and_validation():
    spec = {"spec_version": 1, "type": "judge", "rubrics": ["correctness"], "reference": "x", "checks": ADVICE}
    validate_spec(spec)
    r = score(spec, [{"role": "assistant", "content": "Revenue rose to 1,198 million. Investments may fall in value."}])
    assert r.score == pytest.approx(1.0) and "all passed" in r.reason
    assert score({**spec, "checks": None}, "anything").score is None  # no checks, no judge: unscored, not 0
    for bad in ({"unknown_check": True}, {"language": "fr"}, {"figures": ["a"]}, {"unit_scale": 0}, {},
                {"verdict": []}):
        with pytest.raises(SpecError):
            validate_spec({**spec, "checks": bad})
    assert score({**spec, "checks": {"language": "fr"}}, "text").score is None  # never raises


def _tables(path: Path) -> Path:
    rows = []
    for i, (co, y) in enumerate([("Harbor Bancorp", 2018), ("Lumen Insurance Group", 2020), ("Cobalt Asset Management", 2016)]):
        rows.append({"id": f"t-{i}", "pre_text": [f"{co} reported its results for fiscal {y}."],
                     "post_text": ["Amounts are in millions of US dollars."],
                     "table": [["(in millions of USD)", str(y), str(y - 1)], ["Total revenue", "1,198", f"{1087 + i}"],
                               ["Cost of revenue", "549", "751"], ["Operating income", "443", f"{175 + i}"]],
                     "qa": {"question": "q", "program": "subtract(1198, 1087)", "exe_ans": 111}})
    path.write_text(json.dumps(rows), encoding="utf-8")
    return path


def test_generator_covers_leaves_and_languages(store, tmp_path):
    rep = run({"generator": "business_scenarios", "inputs": [str(_tables(tmp_path / "t.json"))], "per_table": 10,
               "reference_styles": {"complete": 1.0}, "outputs": {"rl": "sc-rl", "sft": "sc-sft"}}, store)
    rl, sft = rep.manifests["rl"], rep.manifests["sft"]
    assert rl.rows == sft.rows == 30
    rows = list(store.iter_records(rl.ref))
    kinds = Counter((json.loads(r["meta"])["kind"], r["lang"]) for r in rows)
    assert {k for k, _ in kinds} == {"advice", "compliance", "report", "service", "risk"}
    assert all(kinds[(k, lang)] >= 2 for k in ("advice", "report", "service", "risk", "compliance") for lang in ("en", "zh"))
    assert len({r["taxonomy"] for r in rows}) == 5
    for r in rows:
        spec = json.loads(r["reward_spec"])
        validate_spec(spec)
        assert spec["type"] == "judge" and spec["criteria"] and spec["checks"]["language"] == r["lang"]
        assert score(spec, spec["reference"]).score == pytest.approx(1.0), (spec["reference"], spec["checks"])
        assert score(spec, "OK.").score < 0.5
    zh_advice = next(r for r in rows if r["lang"] == "zh" and json.loads(r["meta"])["kind"] == "advice")
    assert "营业收入" in zh_advice["prompt"][-1]["content"] or "营业利润" in zh_advice["prompt"][-1]["content"]


def test_reference_styles_are_scored_lower(store, tmp_path):
    rep = run({"generator": "business_scenarios", "inputs": [str(_tables(tmp_path / "t.json"))], "per_table": 10,
               "kinds": ["advice", "risk"], "reference_styles": {"brief": 1, "promotional": 1}, "seed": 3,
               "outputs": {"rl": "sc-rl", "sft": "sc-sft"}}, store)
    rl = {r["id"]: json.loads(r["reward_spec"]) for r in store.iter_records(rep.manifests["rl"].ref)}
    styles = Counter()
    for r in store.iter_records(rep.manifests["sft"].ref):
        meta = json.loads(r["meta"])
        res = score(rl[meta["rl_id"]], r["messages"][-1]["content"])
        styles[meta["reference_style"]] += 1
        failed = res.reason
        assert res.score < 1.0
        assert ("risk_disclosure" in failed) if meta["reference_style"] == "brief" else ("no_guarantee" in failed)
    assert styles["brief"] and styles["promotional"]


@pytest.mark.skipif(not (SHARED / "finqa" / "train_100.json").exists(), reason="shared data not found at ../shared/data")
def test_generator_on_finqa(store):
    rep = run({"generator": "business_scenarios", "inputs": [str(SHARED / "finqa" / "train_100.json")], "per_table": 5,
               "outputs": {"rl": "f-rl", "sft": "f-sft"}}, store)
    rl = rep.manifests["rl"]
    assert rl.rows > 150
    specs = [json.loads(r["reward_spec"]) for r in store.iter_records(rl.ref)]
    full = sum(score(s, s["reference"]).score == 1.0 for s in specs)
    assert full / len(specs) > 0.98


def test_rl_rewards_use_the_checks_without_a_judge():
    """General RL and the general_score metric score through training.rl.rewards: with no judge configured the
    spec's checks give the reward, a spec without checks stays unscored (None, skipped)."""
    from training.rl.rewards import score_samples
    from training.rl.rollout import Sample

    spec = {"spec_version": 1, "type": "judge", "rubrics": ["compliance"], "checks": ADVICE}
    recs = [{"id": "a", "prompt": [{"role": "user", "content": "q"}], "reward_spec": json.dumps(spec)},
            {"id": "b", "prompt": [{"role": "user", "content": "q"}],
             "reward_spec": json.dumps({"spec_version": 1, "type": "judge", "rubric": "helpful"})}]
    texts = ["Revenue rose from 1,087 to 1,198 million. Investing carries risk: shares may fall in value.",
             "Revenue rose from 1,087 to 1,198 million, guaranteed returns ahead."]
    samples = [Sample(0, [], [], 0, text=texts[0]), Sample(0, [], [], 0, text=texts[1]), Sample(1, [], [], 0, text="x")]
    score_samples(recs, samples)
    assert samples[0].reward == pytest.approx(1.0)
    assert samples[1].reward == pytest.approx(4 / 6) and "risk_disclosure, no_guarantee" in samples[1].reward_reason
    assert samples[2].reward is None


def test_teacher_rewrites_and_answers_against_the_fake_server(store, tmp_path):
    """A scripted teacher (reasoning fields included) rewrites requests and writes answers: a rewrite that changes a
    figure is dropped and counted; answers are kept only when they pass the rubric checks."""
    import re

    from synthesis.testing import FakeOpenAIServer, Scripted

    rewrites = []

    def respond(body):
        text = body["messages"][-1]["content"]
        if text.startswith(("Rewrite", "请用")):
            q = text.split("\n\n", 1)[1]
            rewrites.append(q)
            if len(rewrites) % 3 == 0:  # every third rewrite changes a figure
                q = re.sub(r"\d{3}", lambda m: str(int(m.group()) + 1), q, count=1)
            return Scripted("As a client I ask: " + q if "Rewrite" in text else "我想问：" + q, reasoning="keep figures")
        figs = re.findall(r"\d[\d,]*\.?\d*", text)
        if "compliant" in text or "合规" in text:
            return Scripted("该宣传语不合规，不能承诺收益。" if "合规" in text else
                            "The sentence is not compliant: it promises a return.", reasoning="check the claim")
        if re.search(r"[\u4e00-\u9fff]", text):
            return Scripted(f"收入由{figs[2]}变为{figs[1]}。投资有风险，股价可能下跌。", reasoning="answer in zh")
        return Scripted(f"Revenue went from {figs[2]} to {figs[1]} million. Investing carries risk: shares may fall.",
                        reasoning="answer in en")

    with FakeOpenAIServer(respond) as srv:
        rep = run({"generator": "business_scenarios", "inputs": [str(_tables(tmp_path / "t.json"))], "per_table": 10,
                   "teacher_rewrite": True, "teacher_answers": True, "outputs": {"rl": "t-rl", "sft": "t-sft"}},
                  store, endpoint=srv.endpoint())
    rl, sft = rep.manifests["rl"], rep.manifests["sft"]
    assert rl.rows + rl.dropped == 30 and rl.dropped >= 1  # rewrites that changed a figure
    rows = list(store.iter_records(rl.ref))
    assert all(r["prompt"][-1]["content"].startswith(("As a client I ask:", "我想问：")) for r in rows)
    assert {json.loads(r["meta"])["kind"] for r in rows} == {"advice", "compliance", "report", "service", "risk"}
    assert {r["lang"] for r in rows} == {"en", "zh"}
    kept = list(store.iter_records(sft.ref))
    assert kept and sft.rows + sft.dropped == rl.rows
    specs = {r["id"]: json.loads(r["reward_spec"]) for r in rows}
    for r in kept:  # every kept teacher answer passes its own checks
        assert score(specs[json.loads(r["meta"])["rl_id"]], r["messages"][-1]["content"]).score == pytest.approx(1.0)


def test_an_answer_without_the_core_check_scores_zero():
    """Text in the right script that promises nothing but uses no figure (or gives no verdict) gets nothing, so a
    policy cannot collect the easy checks while ignoring the question."""
    assert score_checks(ADVICE, "Thank you for your question, we are happy to help you with your savings today.") \
        == (0.0, ["cite", "risk_disclosure"])
    verdict = {"verdict": ["not compliant"], "language": "en", "min_chars": 10}
    assert score_checks(verdict, "This is an interesting sentence about funds.")[0] == 0.0
