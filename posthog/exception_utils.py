"""Turn a Python exception into the properties of a PostHog ``$exception`` event.

The format is the one 3.x sends (see ``spec/integrations.md`` §3.4): the chain
of causes walked from the raised exception, then reversed so the list is
oldest-first; exception groups expanded with ``exception_id``/``parent_id``;
one dict per stack frame with five lines of source context.

Everything here is defensive: exceptions with a broken ``__str__``, cycles in
``__cause__``/``__context__``, missing source files or odd loaders never make
these functions raise.
"""

from __future__ import annotations

import builtins
import linecache
import os
import re
import sys
from collections.abc import Iterator
from types import FrameType, TracebackType
from typing import Any, Final, Optional, Union

__all__ = ["ExcInfo", "exc_info_from", "exception_list", "exception_properties"]

ExcInfo = tuple[type[BaseException], BaseException, Optional[TracebackType]]
"""A normalised ``(type, value, traceback)`` triple, as ``sys.exc_info()`` returns while handling."""

ExceptionArg = Union[
    BaseException,
    tuple[Optional[type[BaseException]], Optional[BaseException], Optional[TracebackType]],
    None,
]
"""What ``capture_exception(exception=...)`` accepts."""

CONTEXT_LINES: Final = 5
MAX_LINE_BYTES: Final = 1024
# A chain or a nest of groups longer than this is cut: the event must stay sendable.
MAX_EXCEPTIONS: Final = 100
# RecursionError tracebacks hold ~1000 frames; keep the outermost and innermost ones.
MAX_FRAMES: Final = 300

_EXTERNAL_SOURCE: Final = re.compile(r"[\\/](?:site|dist)-packages[\\/]")
_BUILTIN_MODULES: Final = frozenset({"builtins", "__builtins__"})


def exc_info_from(exception: object = None) -> ExcInfo | None:
    """Normalise the ``exception`` argument of ``capture_exception``.

    Accepts an exception instance, a ``(type, value, traceback)`` triple, or
    ``None`` (meaning ``sys.exc_info()``). Returns ``None`` when there is no
    exception to report.
    """
    if exception is None:
        return _from_triple(sys.exc_info())
    if isinstance(exception, BaseException):
        return type(exception), exception, exception.__traceback__
    if isinstance(exception, tuple) and len(exception) == 3:
        return _from_triple(exception)
    return None


def _from_triple(triple: tuple[Any, Any, Any]) -> ExcInfo | None:
    exc_type, value, tb = triple
    if not isinstance(value, BaseException):
        if value is not None or not _is_exception_class(exc_type):
            return None
        # (type, None, tb): what some callers build by hand; instantiate the type.
        try:
            value = exc_type()
        except Exception:  # an exception class whose constructor needs arguments
            return None
    if not _is_exception_class(exc_type):
        exc_type = type(value)
    if not isinstance(tb, TracebackType):
        tb = value.__traceback__
    return exc_type, value, tb


def _is_exception_class(obj: object) -> bool:
    return isinstance(obj, type) and issubclass(obj, BaseException)


def exception_properties(exc_info: ExcInfo, project_root: str | None) -> dict[str, Any]:
    """Build ``$exception_type``, ``$exception_message`` and ``$exception_list``.

    ``$exception_type``/``$exception_message`` describe the first element of
    the oldest-first list, i.e. the root cause, as posthog 3.x does.
    ``project_root`` marks frames under it ``in_app: true``; ``None`` leaves
    ``in_app`` unset for everything outside site-packages.
    """
    exceptions = exception_list(exc_info, project_root)
    first = exceptions[0] if exceptions else {}
    return {
        "$exception_type": first.get("type"),
        "$exception_message": first.get("value"),
        "$exception_list": exceptions,
    }


def exception_list(exc_info: ExcInfo, project_root: str | None) -> list[dict[str, Any]]:
    """Return the ``$exception_list`` for ``exc_info``, oldest exception first."""
    exc_type, value, tb = exc_info
    root = _normalise_root(project_root)
    if _is_group(value):
        items = _GroupWalker(root).walk((exc_type, value, tb))
    else:
        items = []
        for index, exc in enumerate(_walk_chain(value)):
            if index == 0:
                items.append(_single(exc_type, exc, tb, {"type": "generic", "handled": True}, root))
            else:
                items.append(
                    _single(type(exc), exc, exc.__traceback__, {"type": "generic", "handled": True}, root)
                )
    items.reverse()
    return items


def _normalise_root(project_root: str | None) -> str | None:
    if not project_root:
        return None
    return os.path.abspath(project_root)


# -- chains and groups -----------------------------------------------------------------------------


def _next_in_chain(exc: BaseException) -> tuple[BaseException | None, str]:
    # `raise X from Y` sets __cause__ and __suppress_context__; otherwise the implicit context counts.
    if exc.__suppress_context__:
        return exc.__cause__, "__cause__"
    return exc.__context__, "__context__"


def _walk_chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(seen) < MAX_EXCEPTIONS:
        seen.add(id(current))
        yield current
        current, _ = _next_in_chain(current)


def _group_types() -> tuple[type[BaseException], ...]:
    types: list[type[BaseException]] = []
    native = getattr(builtins, "BaseExceptionGroup", None)
    if isinstance(native, type):
        types.append(native)
    # The `exceptiongroup` backport on Python < 3.11; only if the application already loaded it.
    backport = sys.modules.get("exceptiongroup")
    candidate = getattr(backport, "BaseExceptionGroup", None)
    if isinstance(candidate, type) and candidate not in types:
        types.append(candidate)
    return tuple(types)


def _is_group(value: object) -> bool:
    group_types = _group_types()
    return bool(group_types) and isinstance(value, group_types)


def _group_members(value: BaseException) -> list[BaseException]:
    members = getattr(value, "exceptions", ())
    try:
        return [m for m in members if isinstance(m, BaseException)]
    except TypeError:
        return []


class _GroupWalker:
    """Depth-first walk of an exception group: the group, its chain, then its members."""

    def __init__(self, project_root: str | None) -> None:
        self._root = project_root
        self._next_id = 0
        self._items: list[dict[str, Any]] = []

    def walk(self, exc_info: ExcInfo) -> list[dict[str, Any]]:
        self._visit(exc_info, None, frozenset())
        return self._items

    def _visit(self, exc_info: ExcInfo, link: tuple[str, int] | None, ancestors: frozenset[int]) -> None:
        """Add ``exc_info``; ``link`` is ``(source, parent_id)`` for everything but the root."""
        if len(self._items) >= MAX_EXCEPTIONS:
            return
        exc_type, value, tb = exc_info
        own_id = self._next_id
        self._next_id += 1
        mechanism: dict[str, Any] = {
            "type": "generic" if link is None else "chained",
            "handled": True,
            "exception_id": own_id,
        }
        if link is not None:
            mechanism["source"], mechanism["parent_id"] = link
        self._items.append(_single(exc_type, value, tb, mechanism, self._root))

        # Only ancestors are excluded: the same exception may legitimately appear on two paths,
        # but following a cycle would never end.
        ancestors = ancestors | {id(value)}
        linked, link_source = _next_in_chain(value)
        if linked is not None and id(linked) not in ancestors:
            self._visit((type(linked), linked, linked.__traceback__), (link_source, own_id), ancestors)
        if _is_group(value):
            for index, member in enumerate(_group_members(value)):
                if id(member) not in ancestors:
                    member_info = (type(member), member, member.__traceback__)
                    self._visit(member_info, (f"exceptions[{index}]", own_id), ancestors)


# -- one exception ---------------------------------------------------------------------------------


def _single(
    exc_type: type[BaseException],
    value: BaseException,
    tb: TracebackType | None,
    mechanism: dict[str, Any],
    project_root: str | None,
) -> dict[str, Any]:
    errno = _safe_getattr(value, "errno")
    if isinstance(errno, int) and not isinstance(errno, bool):
        mechanism["meta"] = {"errno": {"number": errno}}
    if _is_group(value):
        mechanism["is_exception_group"] = True
    item: dict[str, Any] = {
        "mechanism": mechanism,
        "module": _type_module(exc_type),
        "type": _type_name(exc_type),
        "value": _exception_value(value),
    }
    frames = _frames(tb, project_root)
    if frames:
        item["stacktrace"] = {"frames": frames, "type": "raw"}
    return item


def _type_module(exc_type: type[BaseException]) -> str | None:
    module = getattr(exc_type, "__module__", None)
    if not isinstance(module, str) or module in _BUILTIN_MODULES:
        return None
    return module


def _type_name(exc_type: type[BaseException]) -> str:
    name = getattr(exc_type, "__qualname__", None) or getattr(exc_type, "__name__", None)
    return name if isinstance(name, str) else "<unknown>"


def _exception_value(value: BaseException) -> str:
    # `message` (Django's ValidationError and friends), then `detail` (DRF), then str().
    for attribute in ("message", "detail"):
        candidate = _safe_getattr(value, attribute)
        try:
            present = bool(candidate)
        except Exception:  # a hostile __bool__
            present = False
        if present:
            return candidate if isinstance(candidate, str) else _safe_str(candidate)
    return _safe_str(value)


def _safe_getattr(obj: object, name: str) -> Any:
    try:
        return getattr(obj, name, None)
    except Exception:  # properties on user exception classes may raise anything
        return None


def _safe_str(value: object) -> str:
    try:
        return str(value)
    except Exception:  # a broken __str__ must not stop the capture
        pass
    try:
        return repr(value)
    except Exception:
        return f"<unprintable {type(value).__name__} object>"


# -- frames ----------------------------------------------------------------------------------------


def _frames(tb: TracebackType | None, project_root: str | None) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = []
    seen: set[int] = set()
    while tb is not None and id(tb) not in seen:
        seen.add(id(tb))
        if not _is_hidden(tb.tb_frame):
            frames.append(_frame(tb, project_root))
        tb = tb.tb_next
    if len(frames) > MAX_FRAMES:
        half = MAX_FRAMES // 2
        frames = frames[:half] + frames[-half:]
    return frames


def _is_hidden(frame: FrameType) -> bool:
    try:
        module = frame.f_globals.get("__name__")
        if isinstance(module, str) and module.startswith("sentry_sdk."):
            return True
        f_locals = frame.f_locals
        return bool(f_locals.get("__traceback_hide__") or f_locals.get("__tracebackhide__"))
    except Exception:  # odd locals mappings; better to show the frame than to fail
        return False


def _frame(tb: TracebackType, project_root: str | None) -> dict[str, Any]:
    frame = tb.tb_frame
    code = frame.f_code
    co_filename = code.co_filename or ""
    abs_path = os.path.abspath(co_filename) if co_filename else None
    module = frame.f_globals.get("__name__")
    module_name = module if isinstance(module, str) else None
    lineno = tb.tb_lineno if tb.tb_lineno is not None else frame.f_lineno
    pre_context, context_line, post_context = _source_context(co_filename, lineno, frame.f_globals)
    result: dict[str, Any] = {
        "platform": "python",
        "filename": _relative_filename(module_name, abs_path),
        "abs_path": abs_path,
        "function": code.co_name or "<unknown>",
        "module": module_name,
        "lineno": lineno,
        "pre_context": pre_context,
        "context_line": context_line,
        "post_context": post_context,
    }
    in_app = _in_app(abs_path, project_root)
    if in_app is not None:
        result["in_app"] = in_app
    return result


def _relative_filename(module: str | None, abs_path: str | None) -> str | None:
    """Path relative to the directory holding the frame's top-level package."""
    if abs_path is None or not module:
        return abs_path
    top_level = module.split(".", 1)[0]
    if top_level == module:
        return os.path.basename(abs_path)
    package_file = getattr(sys.modules.get(top_level), "__file__", None)
    if not isinstance(package_file, str):
        return abs_path
    # <parent>/<package>/__init__.py -> <parent>
    parent = os.path.dirname(os.path.dirname(os.path.abspath(package_file)))
    prefix = parent.rstrip(os.sep) + os.sep
    if abs_path.startswith(prefix):
        return abs_path[len(prefix) :]
    return abs_path


def _in_app(abs_path: str | None, project_root: str | None) -> bool | None:
    if abs_path is None:
        return None
    if _EXTERNAL_SOURCE.search(abs_path):
        return False
    if project_root is not None and (
        abs_path == project_root or abs_path.startswith(project_root.rstrip(os.sep) + os.sep)
    ):
        return True
    return None


def _source_context(
    filename: str, lineno: int | None, module_globals: dict[str, Any]
) -> tuple[list[str], str | None, list[str]]:
    if not filename or lineno is None:
        return [], None, []
    try:
        lines = linecache.getlines(filename, module_globals)
    except Exception:  # loaders' get_source() may raise anything
        return [], None, []
    index = lineno - 1
    if not 0 <= index < len(lines):
        return [], None, []
    pre = [_clip(line) for line in lines[max(0, index - CONTEXT_LINES) : index]]
    post = [_clip(line) for line in lines[index + 1 : index + 1 + CONTEXT_LINES]]
    return pre, _clip(lines[index]), post


def _clip(line: str) -> str:
    """Strip the line ending; cut lines over 1024 bytes to a plain string ending in '...'."""
    line = line.strip("\r\n")
    encoded = line.encode("utf-8", "replace")
    if len(encoded) <= MAX_LINE_BYTES:
        return line
    return encoded[: MAX_LINE_BYTES - 3].decode("utf-8", "ignore") + "..."
