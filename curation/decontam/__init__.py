"""Benchmark decontamination: loaders for FinQA / ConvFinQA / TAT-QA / multiple-choice / text benchmarks,
an n-gram index (word n-grams for English, character n-grams for Chinese, number-format tolerant), a
datatrove filter (``curation.decontam.step:DecontaminationFilter``) and a records function."""

from .index import DecontConfig, Match, NgramIndex, build_index
from .loaders import BenchItem, load_benchmark
from .step import (
    DecontaminationFilter,
    DecontamReport,
    decontaminate_records,
    decontaminate_source,
    decontaminate_version,
    write_decontaminated_version,
)

__all__ = ["BenchItem", "DecontConfig", "DecontamReport", "DecontaminationFilter", "Match", "NgramIndex",
           "build_index", "decontaminate_records", "decontaminate_source", "decontaminate_version",
           "write_decontaminated_version", "load_benchmark"]
