"""The finance core: domain logic every pillar shares, each piece written once.

``numbers`` (financial number parsing), ``answers`` (the answer model and the reward specs, eval items and
decontamination keys built from it), ``benchmarks`` (one record type and the FinQA / TAT-QA / ConvFinQA /
multiple-choice / JSONL readers), ``arith`` (the one safe arithmetic evaluator), ``messages`` (chat message and
tool-call conversion), ``text`` (language detection, CJK ranges). Imports nothing of huijin's but ``catalogs``.
"""
