"""Evaluation suites: YAML files in ``recipes/eval/`` listing benchmark files, their format and prompt format.

    name: fin_dev
    data_root: ../shared/data        # relative to the repository root; $HUIJIN_EVAL_DATA overrides
    prompt: chat                     # chat: the model's chat template | plain: zero-shot completion
    max_new_tokens: 256
    tasks:
      - {name: finqa, format: finqa, path: finqa/dev_200.json, limit: 100}
      - {name: fineva_zh, format: mc_csv, path: fineva_zh_mc/SUFE_dev, lang: zh}
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from recipes import recipes_dir

from .loaders import LOADERS, EvalItem, LoadError

ROOT = Path(__file__).resolve().parent.parent.parent
SUITES = recipes_dir("eval")
PATH_KEYS = ("path", "subject_map")


class SuiteError(ValueError):
    pass


@dataclass
class Suite:
    name: str
    tasks: list[dict[str, Any]]
    data_root: Path
    prompt: str = "chat"
    max_new_tokens: int = 256
    max_prompt_tokens: int = 2048
    batch_size: int = 8
    source: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def items(self, limit: int | None = None, tasks: list[str] | None = None) -> list[EvalItem]:
        out = []
        for t in self.tasks:
            if tasks and t["name"] not in tasks:
                continue
            opts = dict(t)
            for k in PATH_KEYS:
                if opts.get(k):
                    opts[k] = str(self.resolve(opts[k]))
            path = Path(opts["path"])
            if not path.exists():
                raise SuiteError(f"suite {self.name}: task {t['name']}: {path} does not exist "
                                 f"(set HUIJIN_EVAL_DATA or the suite's data_root)")
            n = min(x for x in (limit, t.get("limit")) if x) if (limit or t.get("limit")) else None
            got = []
            try:
                for it in LOADERS[t["format"]](path, t["name"], opts):
                    got.append(it)
                    if n and len(got) >= n:
                        break
            except LoadError as e:
                raise SuiteError(f"suite {self.name}: task {t['name']}: {e}") from None
            out += got
        return out

    def resolve(self, p: str) -> Path:
        q = Path(os.path.expandvars(p))
        return q if q.is_absolute() else self.data_root / q


def load_suite(name_or_path: str | Path) -> Suite:
    """A suite by name (``recipes/eval/NAME.yaml``) or by path to a YAML file."""
    p = Path(name_or_path)
    if not p.suffix:
        p = SUITES / f"{name_or_path}.yaml"
    if not p.exists():
        known = sorted(x.stem for x in SUITES.glob("*.yaml"))
        raise SuiteError(f"no evaluation suite {name_or_path!r} (known: {', '.join(known)})")
    try:
        d = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise SuiteError(f"{p}: not valid YAML ({e})") from None
    tasks = d.get("tasks")
    if not isinstance(tasks, list) or not tasks:
        raise SuiteError(f"{p}: a suite needs a non-empty 'tasks:' list")
    for i, t in enumerate(tasks):
        if not isinstance(t, dict) or not t.get("name") or not t.get("path"):
            raise SuiteError(f"{p}: task #{i} needs a name and a path")
        if t.get("format") not in LOADERS:
            raise SuiteError(f"{p}: task {t['name']}: format {t.get('format')!r} not one of {sorted(LOADERS)}")
    env_root = os.environ.get("HUIJIN_EVAL_DATA") or os.environ.get("HUIJIN_SHARED_DATA")
    root = Path(env_root) if env_root else (ROOT / d.get("data_root", "../shared/data")).resolve()
    if d.get("prompt", "chat") not in ("chat", "plain"):
        raise SuiteError(f"{p}: prompt must be 'chat' or 'plain'")
    known = {"name", "tasks", "data_root", "prompt", "max_new_tokens", "max_prompt_tokens", "batch_size"}
    return Suite(d.get("name", p.stem), tasks, root, d.get("prompt", "chat"), int(d.get("max_new_tokens", 256)),
                 int(d.get("max_prompt_tokens", 2048)), int(d.get("batch_size", 8)), str(p),
                 {k: v for k, v in d.items() if k not in known})
