"""huijin.synthesis: teacher client, task taxonomy, verifiers/reward specs, and recipe generators that write sft/rl versions.

Subpackages: ``teachers`` (async OpenAI-compatible client, request cache, accounting), ``taxonomy``,
``rewards`` (``score(reward_spec, completion)``, the safe program interpreter, exporters), ``testing`` (a
real local OpenAI-compatible server with fault injection). ``generators`` run recipes into versions.
"""
