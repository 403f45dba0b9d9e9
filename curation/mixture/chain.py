"""The second half of curation in one call: train the finance-domain classifier, score and threshold the
curated version, decontaminate it and the general replay set against the benchmarks, build the mixture.
Every step is a catalog version (or artifact) with lineage to the one before, so the mixture traces back
to the raw data, the classifier and the benchmark files it was checked against."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .build import build_mixture
from .recipe import MixRecipe, MixSource


def cpt_chain(store, curated: str, general: str, positives: list[str], negatives: list[str],
              benchmarks: dict[str, str], workdir: str | Path, name: str = "cpt-mix", general_share: float = 0.4,
              threshold: float = 0.5, total_tokens: int | None = None, tokenizer: str | None = None,
              classifier: str = "fin-domain", train_config: Any = None, finance_max_epochs: float = 4.0,
              seed: int = 0) -> dict[str, Any]:
    from ..classify.train import train_classifier
    from ..classify.versions import classify_version
    from ..decontam import build_index, decontaminate_version

    workdir = Path(workdir)
    clf = train_classifier(classifier, positives, negatives, workdir / classifier, cfg=train_config, store=store)
    scored, counts = classify_version(store, clf.artifact_ref, curated, f"{name}-finance-scored",
                                      default_threshold=threshold)
    index = build_index(benchmarks)
    fin_clean, fin_rep = decontaminate_version(store, index, scored.ref, f"{name}-finance-clean",
                                               recipe={"benchmarks": benchmarks})
    gen_clean, gen_rep = decontaminate_version(store, index, general, f"{name}-general-clean",
                                               recipe={"benchmarks": benchmarks})
    recipe = MixRecipe(sources=[MixSource("finance", fin_clean.ref, round(1 - general_share, 6), finance_max_epochs),
                                MixSource("general", gen_clean.ref, general_share, 1.0)],
                       total_tokens=total_tokens, seed=seed, tokenizer=tokenizer, name=name).validate()
    mix, mix_report = build_mixture(store, recipe, name)
    return {"classifier": clf.artifact_ref, "classifier_f1": {k: v["f1"] for k, v in clf.report["per_language"].items()},
            "scored": scored.ref, "kept_by_classifier": counts["kept"], "dropped_by_classifier": counts["dropped_below_threshold"],
            "finance_clean": fin_clean.ref, "general_clean": gen_clean.ref,
            "contaminated_removed": fin_rep.counts["flagged"] + gen_rep.counts["flagged"],
            "mixture": mix.ref, "mixture_report": mix_report}
