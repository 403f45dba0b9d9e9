"""One training process: ``python -m training.worker JOB.json`` (the DeepSpeed launcher starts one per rank)."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    from .engine import setup_env

    setup_env()  # before deepspeed is imported anywhere
    from .stages import get_stage

    args = [a for a in (argv if argv is not None else sys.argv[1:]) if not a.startswith("--local_rank")]
    if len(args) != 1:
        print("usage: python -m training.worker JOB.json", file=sys.stderr)
        return 2
    job = json.loads(Path(args[0]).read_text())
    get_stage(job["stage"]).execute(job)
    return 0


if __name__ == "__main__":
    sys.exit(main())
