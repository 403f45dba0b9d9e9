"""Quiet by default, everything with ``--verbose``, the full log with ``--log-file``.

Without ``--verbose`` (or ``HUIJIN_VERBOSE=1``) the command hides what libraries print for their own sake:

- Hugging Face progress bars ("Loading weights", "Writing model shards") and transformers' advisories, through
  their environment switches (``HF_HUB_DISABLE_PROGRESS_BARS``, ``TRANSFORMERS_VERBOSITY``), set before those
  libraries are imported and inherited by launched subprocesses;
- DeepSpeed's log lines below ERROR ("Setting accelerator to CPU"), which it prints to stdout from its own logger;
- lines libraries ``print()`` for their own sake, with no logger or switch to silence them (``LIBRARY_PRINTS``:
  DeepSpeed's "DeepSpeed deepspeed.ops.comm.deepspeed_shm_comm_op built successfully" when it sets up the CPU
  backend), taken out of stdout line by line;
- Python warnings and log records raised by third-party code; warnings and logs of huijin's own packages, and
  every ERROR, still show.

Hidden is not lost: ``--log-file PATH`` receives every log record (INFO and up, all libraries), every warning,
everything the command printed on stdout/stderr (colour codes stripped) and the traceback of an unexpected
error. Our own progress lines and summary tables are output, not library noise: they always show.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from typing import Any, TextIO

OURS = ("huijin", "catalogs", "curation", "synthesis", "training", "finance")
QUIET_ENV = {
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",  # huggingface_hub and transformers' tqdm bars
    "TRANSFORMERS_VERBOSITY": "error",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
    "TOKENIZERS_PARALLELISM": "false",  # the "process just got forked" warning
}
CHATTY_LOGGERS = ("DeepSpeed", "torch.distributed", "accelerate", "transformers", "datasets", "httpx", "urllib3")
# whole stdout lines libraries print() (prefix, pattern of the line): deepspeed/comm/torch.py and ccl.py
LIBRARY_PRINTS = (("DeepSpeed ", re.compile(r"DeepSpeed \S+ built successfully\s*")),)
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")
_OUR_PATH = re.compile(r"[/\\](" + "|".join(OURS) + r")[/\\]")
_log_file: TextIO | None = None
_file_handler: logging.Handler | None = None


def _once(record: logging.LogRecord) -> bool:
    """Let a record through the file handler the first time only."""
    if getattr(record, "_huijin_logged", False):
        return False
    record._huijin_logged = True  # type: ignore[attr-defined]
    return True


def verbose_requested(argv: list[str] | None = None) -> bool:
    argv = sys.argv[1:] if argv is None else argv
    return "--verbose" in argv or os.environ.get("HUIJIN_VERBOSE", "") not in ("", "0")


def configure(verbose: bool, log_file: str | None = None) -> None:
    """Set up the console and the log file for this process (idempotent: a second call changes nothing)."""
    global _log_file, _file_handler
    if log_file and _log_file is None:
        from pathlib import Path

        Path(log_file).expanduser().parent.mkdir(parents=True, exist_ok=True)
        _log_file = open(Path(log_file).expanduser(), "a", encoding="utf-8", buffering=1)  # noqa: SIM115
        _log_file.write(f"# huijin {' '.join(sys.argv[1:])}\n")
        _file_handler = logging.StreamHandler(_log_file)
        _file_handler.setLevel(logging.INFO)
        _file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        _file_handler.addFilter(_once)  # attached to the root and to chatty loggers: a propagating record comes twice
        root = logging.getLogger()
        root.addHandler(_file_handler)
        root.setLevel(min(root.level or logging.WARNING, logging.INFO))
        for name in (*CHATTY_LOGGERS, "huijin.catalog"):  # loggers that keep records to themselves (propagate off)
            logging.getLogger(name).addHandler(_file_handler)
        sys.stdout = _Tee(sys.stdout, _log_file)
        sys.stderr = _Tee(sys.stderr, _log_file)
    if verbose:
        return
    if not isinstance(sys.stdout, _HideLines):
        sys.stdout = _HideLines(sys.stdout)
    for k, v in QUIET_ENV.items():
        os.environ.setdefault(k, v)
    logging.captureWarnings(True)  # warnings become records of 'py.warnings': filtered below, kept in the file
    console = logging.StreamHandler()  # the stderr of the moment (a test runner may swap it)
    console.setLevel(logging.WARNING)
    console.addFilter(_ours_or_error)
    console.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    if not any(getattr(h, "_huijin_console", False) for h in root.handlers):
        console._huijin_console = True  # type: ignore[attr-defined]
        root.addHandler(console)
    for name in CHATTY_LOGGERS:
        lg = logging.getLogger(name)
        if not any(isinstance(f, _Divert) for f in lg.filters):
            lg.addFilter(_Divert())


def close() -> None:
    """End of a command: stop filtering stdout and copying to the log file (a test runner may invoke several
    commands in one process)."""
    global _log_file, _file_handler
    if isinstance(sys.stdout, _HideLines):
        sys.stdout.flush()
        sys.stdout = sys.stdout._stream
    if _log_file is None:
        return
    for stream_name in ("stdout", "stderr"):
        s = getattr(sys, stream_name)
        if isinstance(s, _Tee):
            setattr(sys, stream_name, s._stream)
    for lg in (logging.getLogger(), *(logging.getLogger(n) for n in (*CHATTY_LOGGERS, "huijin.catalog"))):
        lg.removeHandler(_file_handler)
    _log_file.close()
    _log_file = _file_handler = None


def _ours_or_error(record: logging.LogRecord) -> bool:
    """Console filter: ERROR and up from anyone; below that only our packages' records and warnings."""
    if record.levelno >= logging.ERROR:
        return True
    if record.name == "py.warnings":
        return bool(_OUR_PATH.search(str(record.getMessage())))
    return record.name.split(".")[0] in OURS


class _Divert(logging.Filter):
    """On a library logger that prints through its own handler (DeepSpeed → stdout): records below ERROR go
    to the log file only."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR:
            return True
        if _file_handler is not None and record.levelno >= _file_handler.level:
            _file_handler.handle(record)
        return False


def log_exception(exc: BaseException) -> None:
    """The traceback of an error shown as one line on the console, into the log file (if any)."""
    if _log_file is None:
        return
    import traceback

    _log_file.write("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
    _log_file.flush()


class _Tee:
    """A text stream that also copies what is written to the log file (without colour codes)."""

    def __init__(self, stream: TextIO, log: TextIO) -> None:
        self._stream, self._log = stream, log

    def write(self, s: str) -> int:
        n = self._stream.write(s)
        try:
            self._log.write(_ANSI.sub("", s))
        except ValueError:  # the log file was closed at exit
            pass
        return n

    def flush(self) -> None:
        self._stream.flush()
        try:
            self._log.flush()
        except ValueError:
            pass

    def __getattr__(self, name: str) -> Any:  # isatty, fileno, encoding, … of the real stream
        return getattr(self._stream, name)


class _HideLines:
    """stdout without the whole lines of ``LIBRARY_PRINTS`` (they go to the log file, if any). Text passes
    through at once, except a line start that may still become one of those lines: it waits for its next write."""

    def __init__(self, stream: TextIO) -> None:
        self._stream, self._line = stream, ""  # the start of a line that may be a library's

    def write(self, s: str) -> int:
        text, self._line = self._line + s, ""
        out, start = [], 0
        while True:
            end = text.find("\n", start)
            if end < 0:
                break
            line = text[start:end + 1]
            start = end + 1
            if any(p.fullmatch(line.rstrip("\n")) for _, p in LIBRARY_PRINTS):
                self._to_log(line)
            else:
                out.append(line)
        rest = text[start:]
        if rest and _may_be_library_line(rest):
            self._line = rest
        else:
            out.append(rest)
        if out:
            self._stream.write("".join(out))
        return len(s)

    def flush(self) -> None:
        if self._line and not any(self._line.startswith(prefix) for prefix, _ in LIBRARY_PRINTS):
            self._stream.write(self._line)
            self._line = ""
        self._stream.flush()

    @staticmethod
    def _to_log(line: str) -> None:
        if _log_file is not None:
            try:
                _log_file.write(line)
            except ValueError:  # the log file was closed at exit
                pass

    def __getattr__(self, name: str) -> Any:  # isatty, fileno, encoding, … of the real stream
        return getattr(self._stream, name)


def _may_be_library_line(start: str) -> bool:
    return any(prefix.startswith(start) or start.startswith(prefix) for prefix, _ in LIBRARY_PRINTS)
