"""`huijin catalog ls` without typer and rich (huijin/cli_fast.py, issue 16): the fast path prints the bytes
the typer app prints — piped and on a terminal, table and JSON, errors — and its table renderer writes what
``huijin.output.print_table`` writes through rich, checked on generated tables."""

from __future__ import annotations

import fcntl
import io
import json
import os
import pty
import random
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from catalogs import Store
from huijin import cli_fast, output

ROOT = Path(__file__).resolve().parent.parent
# the entry point (fast path first) and the typer app alone; each prints which of typer/rich it imported
PROBE = ("import atexit, sys\n"
         "atexit.register(lambda: sys.stderr.write('LOADED ' + ' '.join(m for m in ('typer', 'rich', 'duckdb') "
         "if m in sys.modules) + '\\n'))\n")
ENTRY = PROBE + "sys.argv[0] = 'huijin'\nfrom huijin.cli import main\nmain()\n"
TYPER = PROBE + "from huijin.cli import app\napp(prog_name='huijin')\n"


@pytest.fixture(scope="module")
def versions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fast") / "store"
    s = Store.open(root)
    for name, kind, n in [("filings", "doc", 3), ("filings", "doc", 2), ("tasks", "rl", 1)]:
        with s.writer(name, kind=kind) as w:
            if kind == "doc":
                w.write([{"text": f"doc {i} of {name}", "lang": "en"} for i in range(n)])
                w.count_drop("min_chars:too_short", 1)
            else:
                w.write([{"prompt": [{"role": "user", "content": "What is 2+2?"}],
                          "reward_spec": json.dumps({"spec_version": 1, "type": "numeric", "answer": 4})}])
    return root


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in (*cli_fast.RICH_ENV, "HUIJIN_VERBOSE", "HUIJIN_STORE")}
    return {**env, **extra}


def _both(args: list[str], env: dict[str, str] | None = None, cwd: Path = ROOT) -> tuple[subprocess.CompletedProcess,
                                                                                        subprocess.CompletedProcess]:
    return tuple(subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=cwd,
                                env=env or _env(), timeout=120) for code in (ENTRY, TYPER))


def _loaded(p: subprocess.CompletedProcess) -> set[str]:
    return set(p.stderr.strip().splitlines()[-1].split()[1:])


def _same(fast: subprocess.CompletedProcess, full: subprocess.CompletedProcess) -> None:
    assert fast.returncode == full.returncode
    assert fast.stdout == full.stdout
    assert fast.stderr.rsplit("LOADED", 1)[0] == full.stderr.rsplit("LOADED", 1)[0]


@pytest.mark.parametrize("args", [
    ["catalog", "ls"],
    ["catalog", "ls", "--json"],
    ["catalog", "ls", "filings"],
    ["catalog", "ls", "--kind=rl", "--json"],
    ["--verbose", "catalog", "ls", "--kind", "doc"],
    ["catalog", "ls", "nothing-by-this-name"],
    ["catalog", "ls", "--", "filings"],
])
def test_fast_path_prints_what_typer_prints_without_typer_or_rich(versions: Path, args: list[str]) -> None:
    at = args.index("ls") + 1
    fast, full = _both([*args[:at], "--store", str(versions), *args[at:]])
    assert fast.returncode == 0, fast.stderr
    _same(fast, full)
    assert _loaded(fast) == set() and {"typer", "rich"} <= _loaded(full)  # nor DuckDB's Python layer
    if "--json" not in args:
        assert "versions" in fast.stdout and "┃ name" in fast.stdout


def test_default_store_from_the_environment_and_the_folder(versions: Path) -> None:
    fast, full = _both(["catalog", "ls"], env=_env(HUIJIN_STORE=str(versions)))
    _same(fast, full)
    assert "filings" in fast.stdout and not _loaded(fast)
    fast, full = _both(["catalog", "ls", "--json"], cwd=versions.parent)  # ./huijin-store: created empty
    _same(fast, full)
    assert fast.stdout == "[]\n" and (versions.parent / "huijin-store" / "catalog.duckdb").exists()


@pytest.mark.parametrize("case", ["help", "bad_option", "two_names", "missing_value", "log_file", "force_color",
                                  "wide_table", "damaged_index"])
def test_everything_else_is_typers_and_reads_the_same(versions: Path, tmp_path: Path, case: str) -> None:
    """Command lines and outputs the fast path leaves to typer: the same bytes and exit code either way."""
    store, env = str(versions), _env()
    args = {"help": ["catalog", "ls", "--help"], "bad_option": ["catalog", "ls", "--kinds", "doc"],
            "two_names": ["catalog", "ls", "a", "b"], "missing_value": ["catalog", "ls", "--kind"],
            "log_file": ["--log-file", str(tmp_path / "log.txt"), "catalog", "ls"]}.get(case, ["catalog", "ls"])
    if case == "force_color":
        env["FORCE_COLOR"] = "1"
    if case == "wide_table":  # wider than the 150 columns of a pipe: rich folds it
        store = str(tmp_path / "wide")
        with Store.open(store).writer("x" * 128, kind="doc") as w:
            w.write([{"text": "a"}])
    if case == "damaged_index":
        store = str(tmp_path / "damaged")
        Store.open(store)
        (Path(store) / "catalog.duckdb").write_bytes(b"not a database" * 100)
    if case != "missing_value":
        args = [*args, "--store", store]
    fast, full = _both(args, env=env)
    _same(fast, full)
    assert (fast.returncode == 0) == (case in ("log_file", "force_color", "wide_table", "help"))
    if case == "damaged_index":
        assert fast.returncode == 1 and "is damaged" in fast.stderr and len(fast.stderr.splitlines()) == 2
    if case in ("wide_table", "damaged_index"):  # read once by the fast path, printed by typer's command
        assert "typer" in _loaded(fast)


def _on_a_terminal(code: str, args: list[str], columns: int) -> tuple[bytes, set[str]]:
    """What the command writes to a pseudo-terminal ``columns`` wide, and which of typer/rich/duckdb it loaded."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    env = {k: v for k, v in _env(TERM="xterm-256color").items() if k not in ("COLUMNS", "LINES")}
    p = subprocess.Popen([sys.executable, "-c", code, *args], stdin=follower, stdout=follower,
                         stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)
    os.close(follower)
    out = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the follower closed
            break
        if not chunk:
            break
        out += chunk
    err = p.communicate(timeout=120)[1]
    os.close(leader)
    return out, set(err.strip().splitlines()[-1].split()[1:])


@pytest.mark.parametrize("columns", [200, 90])
def test_on_a_terminal_the_same_styles_and_width(versions: Path, columns: int) -> None:
    args = ["catalog", "ls", "--store", str(versions)]
    (fast, loaded), (full, _) = _on_a_terminal(ENTRY, args, columns), _on_a_terminal(TYPER, args, columns)
    assert fast == full and b"\x1b[3m" in fast  # italic title
    if columns == 200:  # the table fits: drawn by the fast path, bold header
        assert not loaded and b"\x1b[1mname" in fast
    else:  # 90 columns: rich folds the table (read once by the fast path, drawn by typer's command)
        assert "typer" in loaded


def _rich(rows: list[dict], columns: list[str], title: str | None, width: int, styled: bool) -> str:
    buf = io.StringIO()
    from rich.console import Console

    console = Console(file=buf, width=width, force_terminal=styled, color_system="standard" if styled else None)
    saved, output.console = output.console, console
    try:
        output.print_table(rows, columns, title=title)
    finally:
        output.console = saved
    return buf.getvalue()


WORDS = ["a", "bb", "ccc", "2026-12-06T06:49:40+00:00", "f60a94a632752d1b", "x y", "a:b", "12:30", "-", "notes.v2",
         "(1)", "{}", "a=b", "#7", "100%", "~/p", "'q'", '"d"', "\\x"]


def test_plain_table_is_riches_table() -> None:
    rnd = random.Random(16)
    rendered = 0
    for _ in range(400):
        columns = [rnd.choice(WORDS[:8]) + str(i) for i in range(rnd.randint(1, 7))]
        rows = [{c: rnd.choice([None, rnd.randint(0, 10**rnd.randint(1, 12)), rnd.choice(WORDS),
                                rnd.choice(WORDS) * rnd.randint(1, 4)]) for c in columns}
                for _ in range(rnd.randint(0, 5))]
        title = rnd.choice([None, "versions", "t", "a longer title of a table"])
        width, styled = rnd.choice([20, 40, 60, 80, 150]), rnd.random() < 0.5
        mine = cli_fast.plain_table(rows, columns, title, width, styled)
        if mine is not None:
            rendered += 1
            assert mine == _rich(rows, columns, title, width, styled), (rows, columns, title, width, styled)
    assert rendered > 150  # most tables are drawn here, the rest (too wide, odd text) by rich


@pytest.mark.parametrize("cell", ["[bold]x", "x:100:y", "a:1234:", ":+1:", "营业收入", "tab\there", "two  spaces",
                                  " lead", "trail ", "line\nbreak", 1.5, True, {"a": 1}])
def test_text_rich_would_change_is_left_to_rich(cell) -> None:
    assert cli_fast.plain_table([{"c": cell}], ["c"], "t", 150, False) is None


def test_no_emoji_code_is_a_number_of_one_or_two_digits() -> None:
    """Why ``12:30:45`` is plain: the renderer lets through emoji-like codes of one or two digits only."""
    from rich._emoji_codes import EMOJI

    assert not [k for k in EMOJI if k.isdigit() and len(k) <= 2]


@pytest.mark.parametrize("argv,expected", [
    (["catalog", "ls"], {"name": None, "kind": None, "json": False, "store": None, "verbose": False}),
    (["--verbose", "catalog", "ls", "n", "--json", "--store=s", "--kind", "-x"],
     {"name": "n", "kind": "-x", "json": True, "store": "s", "verbose": True}),
    (["catalog", "ls", "--", "--json"], {"name": "--json", "kind": None, "json": False, "store": None,
                                         "verbose": False}),
])
def test_parse_ls(argv: list[str], expected: dict) -> None:
    assert cli_fast.parse_ls(argv) == expected


@pytest.mark.parametrize("argv", [[], ["catalog"], ["catalog", "show", "x"], ["catalog", "ls", "-h"],
                                  ["catalog", "ls", "--json=1"], ["catalog", "ls", "--store"], ["ls"],
                                  ["--log-file", "f", "catalog", "ls"], ["catalog", "ls", "--verbose"]])
def test_parse_ls_leaves_the_rest_to_typer(argv: list[str]) -> None:
    assert cli_fast.parse_ls(argv) is None
