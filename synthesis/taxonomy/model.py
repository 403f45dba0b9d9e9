"""The taxonomy as objects: load the YAML, look leaves up by id, map answer types to reward specs."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DEFAULT_FILE = Path(__file__).with_name("taxonomy.yaml")
ID = re.compile(r"^[a-z][a-z0-9_]*$")


class TaxonomyError(ValueError):
    """The taxonomy file is malformed; the message names the node."""


@dataclass(frozen=True)
class Leaf:
    path: str  # scenario/capability/task — the value of a record's ``taxonomy`` column
    description: str
    languages: tuple[str, ...]
    answer_type: str
    reward_type: str
    sectors: tuple[str, ...] = ()

    @property
    def scenario(self) -> str:
        return self.path.split("/")[0]

    @property
    def capability(self) -> str:
        return "/".join(self.path.split("/")[:2])


@dataclass
class Taxonomy:
    version: int
    scenarios: list[dict[str, Any]]
    leaves: dict[str, Leaf]
    tags: dict[str, list[str]] = field(default_factory=dict)
    answer_types: dict[str, str] = field(default_factory=dict)

    def leaf(self, path: str) -> Leaf:
        if path not in self.leaves:
            raise KeyError(f"unknown taxonomy leaf {path!r}")
        return self.leaves[path]

    def leaf_ids(self) -> list[str]:
        return list(self.leaves)

    def reward_type(self, path: str) -> str:
        return self.leaf(path).reward_type

    def level(self, path: str, depth: int) -> str:
        """The ancestor of ``path`` at depth 1 (scenario), 2 (capability) or 3 (leaf)."""
        return "/".join(path.split("/")[:depth])

    def rows(self) -> list[dict[str, Any]]:
        return [{"leaf": lf.path, "answer_type": lf.answer_type, "reward": lf.reward_type,
                 "languages": ",".join(lf.languages), "sectors": ",".join(lf.sectors), "description": lf.description}
                for lf in self.leaves.values()]

    def tree(self) -> dict[str, Any]:
        return {"version": self.version, "tags": self.tags, "answer_type_to_reward": self.answer_types,
                "scenarios": self.scenarios}


def load_taxonomy(path: str | Path | None = None) -> Taxonomy:
    p = Path(path) if path else DEFAULT_FILE
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise TaxonomyError(f"{p}: cannot read the taxonomy ({e})") from None
    answer_types = data.get("answer_type_to_reward") or {}
    tags = data.get("tags") or {}
    leaves: dict[str, Leaf] = {}
    for s in data.get("scenarios") or []:
        _check_id(p, s, "scenario")
        for c in s.get("capabilities") or []:
            _check_id(p, c, f"capability of {s['id']}")
            for t in c.get("tasks") or []:
                where = f"{s['id']}/{c['id']}"
                _check_id(p, t, f"task of {where}")
                path = f"{where}/{t['id']}"
                at = t.get("answer_type")
                if at not in answer_types:
                    raise TaxonomyError(f"{p}: leaf {path}: answer_type {at!r} is not one of {sorted(answer_types)}")
                bad_lang = set(t.get("languages") or []) - set(tags.get("language") or [])
                bad_sector = set(t.get("sectors") or []) - set(tags.get("sector") or [])
                if bad_lang or bad_sector:
                    raise TaxonomyError(f"{p}: leaf {path}: unknown tags {sorted(bad_lang | bad_sector)}")
                if path in leaves:
                    raise TaxonomyError(f"{p}: leaf {path} is defined twice")
                leaves[path] = Leaf(path, t.get("description", ""), tuple(t.get("languages") or ()), at,
                                    answer_types[at], tuple(t.get("sectors") or ()))
    if not leaves:
        raise TaxonomyError(f"{p}: no leaves")
    return Taxonomy(int(data.get("version", 1)), data["scenarios"], leaves, tags, answer_types)


def _check_id(p: Path, node: Any, what: str) -> None:
    if not isinstance(node, dict) or not isinstance(node.get("id"), str) or not ID.match(node["id"]):
        raise TaxonomyError(f"{p}: {what} needs an id of lowercase letters, digits and _ (got {node!r:.80})")
