"""Plain ``str`` options without pydantic: typer (0.2x) coerces every parameter through a pydantic
``TypeAdapter``, and importing pydantic to build one costs 0.2-0.3 s at every start of the command — more than
the rest of `huijin catalog ls` together. A ``str`` option needs no coercion beyond what click already did
(decode bytes), nor does a ``bool`` flag click already parsed, so those get a pass-through coercion here
(anything unexpected still goes to typer's); every other type (numbers with ``min``, paths with
``exists``, lists, enums) keeps typer's own.

This patches one private function of typer (``typer.core.build_runtime_param``); if a typer release moves
it, ``install`` does nothing and typer behaves as shipped (slower start, same results). Hand-written because
typer has no switch for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


def install() -> bool:
    """Route plain ``str`` parameters around pydantic; returns whether the patch applied."""
    try:
        import typer.core as tcore
        from typer._coercion import RuntimeParam
    except ImportError:  # pragma: no cover - another typer layout
        return False
    original = getattr(tcore, "build_runtime_param", None)
    if original is None or getattr(original, "_huijin_fast", False):
        return original is not None

    @dataclass(frozen=True)
    class PlainStr(RuntimeParam):
        """A ``str`` parameter: the value click parsed, bytes decoded (what typer's ``_parse_cli_str`` does)."""

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            if isinstance(value, str):
                return value
            if isinstance(value, bytes):
                return value.decode("utf-8", "replace")
            return original(_descriptor(self)).coerce(value, param=param, ctx=ctx)

    @dataclass(frozen=True)
    class PlainBool(RuntimeParam):
        """A ``bool`` flag: click already made it a bool; anything else goes to typer's own coercion."""

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            if isinstance(value, bool):
                return value
            return original(_descriptor(self)).coerce(value, param=param, ctx=ctx)

    def _descriptor(p: Any) -> Any:
        from typer._coercion import resolve_type_descriptor

        return resolve_type_descriptor(p.annotation, p.parameter_info)

    def build_runtime_param(descriptor: Any) -> Any:
        info = descriptor.parameter_info
        plain = {str: PlainStr, bool: PlainBool}.get(descriptor.annotation)
        if (plain is not None and descriptor.file_annotation is None and getattr(info, "parser", None) is None
                and getattr(info, "click_type", None) is None):
            return plain(annotation=descriptor.annotation, parameter_info=info)
        return original(descriptor)

    build_runtime_param._huijin_fast = True  # type: ignore[attr-defined]
    tcore.build_runtime_param = build_runtime_param
    return True


def light_help() -> None:
    """Import ``typer.rich_utils`` (typer's help formatter) without ``rich.markdown`` and ``rich.traceback``:
    it imports both at its top for Markdown help text and pretty tracebacks, which huijin uses neither of
    (markup mode "rich", ``pretty_exceptions_enable=False``), and they are most of its import time (markdown-it,
    pygments, attrs: ~0.1 s of `huijin --help`). Each is replaced by a stand-in class for that import only; the
    stand-in imports the real class when it is first used, and the real modules import normally afterwards."""
    import importlib
    import sys
    import types

    if "typer.rich_utils" in sys.modules:
        return

    class _Deferred(type):
        def __getattr__(cls, attr: str) -> Any:  # classmethods such as Traceback.from_exception
            return getattr(cls._real(), attr)

    def deferred(module: str, name: str) -> type:
        def real() -> Any:
            return getattr(importlib.import_module(module), name)

        def new(cls: type, *a: Any, **k: Any) -> Any:
            return real()(*a, **k)

        return _Deferred(name, (), {"__new__": new, "_real": staticmethod(real),
                                    "__doc__": f"{module}.{name}, imported on first use"})

    stubs = {}
    for module, name in (("rich.markdown", "Markdown"), ("rich.traceback", "Traceback")):
        if module not in sys.modules:
            stub = types.ModuleType(module)
            setattr(stub, name, deferred(module, name))
            stubs[module] = sys.modules[module] = stub
    try:
        import typer.rich_utils  # noqa: F401
    finally:
        for module, stub in stubs.items():
            if sys.modules.get(module) is stub:
                del sys.modules[module]
