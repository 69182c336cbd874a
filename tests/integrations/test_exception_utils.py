"""The $exception properties (spec/integrations.md §3.4; weaknesses.md §D 44)."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from types import ModuleType, TracebackType
from typing import Any

import pytest

from posthog.exception_utils import (
    MAX_FRAMES,
    MAX_LINE_BYTES,
    exc_info_from,
    exception_list,
    exception_properties,
)

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

requires_groups = pytest.mark.skipif(sys.version_info < (3, 11), reason="ExceptionGroup is 3.11+")


def raised(fn: Any) -> BaseException:
    try:
        fn()
    except BaseException as e:
        return e
    raise AssertionError("did not raise")


def props_of(exc: BaseException, project_root: str | None = HERE) -> dict[str, Any]:
    info = exc_info_from(exc)
    assert info is not None
    return exception_properties(info, project_root)


def inner() -> None:
    raise ValueError("inner boom")


def explicit_chain() -> None:
    try:
        inner()
    except ValueError as e:
        raise KeyError("outer") from e


def implicit_chain() -> None:
    try:
        inner()
    except ValueError:
        raise KeyError("outer")  # noqa: B904 - the implicit context is what is being tested


def suppressed_chain() -> None:
    try:
        inner()
    except ValueError:
        raise KeyError("outer") from None


# -- chain order -----------------------------------------------------------------------------------


def test_chain_is_oldest_first_and_summary_is_the_root_cause() -> None:
    props = props_of(raised(explicit_chain))

    assert [e["type"] for e in props["$exception_list"]] == ["ValueError", "KeyError"]
    assert props["$exception_type"] == "ValueError"
    assert props["$exception_message"] == "inner boom"
    assert props["$exception_list"][1]["value"] == "'outer'"


def test_implicit_context_is_followed() -> None:
    props = props_of(raised(implicit_chain))
    assert [e["type"] for e in props["$exception_list"]] == ["ValueError", "KeyError"]


def test_from_none_suppresses_the_context() -> None:
    props = props_of(raised(suppressed_chain))
    assert [e["type"] for e in props["$exception_list"]] == ["KeyError"]


def test_cycle_in_the_chain_terminates() -> None:
    first, second = ValueError("a"), TypeError("b")
    first.__context__ = second
    second.__context__ = first

    types = [e["type"] for e in exception_list((ValueError, first, None), None)]

    assert types == ["TypeError", "ValueError"]


# -- one exception ---------------------------------------------------------------------------------


class Outer:
    class NestedError(Exception):
        pass


class WithMessage(Exception):
    message = "from message attribute"


class WithDetail(Exception):
    detail = "from detail attribute"


class BrokenStr(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no str")


class BrokenEverything(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no str")

    def __repr__(self) -> str:
        raise RuntimeError("no repr")


class HostileMessage(Exception):
    @property
    def message(self) -> str:
        raise RuntimeError("property blew up")


class Falsy:
    def __bool__(self) -> bool:
        raise RuntimeError("no bool")


class HostileBool(Exception):
    detail = Falsy()


@pytest.mark.parametrize(
    ("exc", "expected_type", "expected_module", "expected_value"),
    [
        (ValueError("plain"), "ValueError", None, "plain"),
        (KeyError("k"), "KeyError", None, "'k'"),
        (Outer.NestedError("n"), "Outer.NestedError", __name__, "n"),
        (WithMessage("ignored"), "WithMessage", __name__, "from message attribute"),
        (WithDetail("ignored"), "WithDetail", __name__, "from detail attribute"),
        (BrokenStr("x"), "BrokenStr", __name__, "BrokenStr('x')"),
        (BrokenEverything("x"), "BrokenEverything", __name__, "<unprintable BrokenEverything object>"),
        (HostileMessage("still fine"), "HostileMessage", __name__, "still fine"),
        (HostileBool("bool"), "HostileBool", __name__, "bool"),
        (
            json.JSONDecodeError("bad", "doc", 0),
            "JSONDecodeError",
            "json.decoder",
            "bad: line 1 column 1 (char 0)",
        ),
    ],
    ids=[
        "builtin",
        "keyerror-quoted",
        "qualname",
        "message-attr",
        "detail-attr",
        "broken-str",
        "broken-repr",
        "raising-message",
        "hostile-bool",
        "stdlib-module",
    ],
)
def test_exception_fields(
    exc: BaseException, expected_type: str, expected_module: str | None, expected_value: str
) -> None:
    (item,) = props_of(exc)["$exception_list"]

    assert item["type"] == expected_type
    assert item["module"] == expected_module
    assert item["value"] == expected_value
    assert item["mechanism"] == {"type": "generic", "handled": True}
    assert "stacktrace" not in item  # never raised, so no traceback


def test_errno_goes_into_the_mechanism() -> None:
    (item,) = props_of(OSError(2, "no such file"))["$exception_list"]
    assert item["type"] == "FileNotFoundError"
    assert item["mechanism"]["meta"] == {"errno": {"number": 2}}


# -- frames ----------------------------------------------------------------------------------------


def test_frames_oldest_call_first_with_source_context() -> None:
    item = props_of(raised(inner))["$exception_list"][0]
    frames = item["stacktrace"]["frames"]

    assert item["stacktrace"]["type"] == "raw"
    assert [f["function"] for f in frames] == ["raised", "inner"]
    last = frames[-1]
    assert set(last) == {
        "platform",
        "filename",
        "abs_path",
        "function",
        "module",
        "lineno",
        "pre_context",
        "context_line",
        "post_context",
        "in_app",
    }
    assert last["platform"] == "python"
    assert last["abs_path"] == os.path.abspath(__file__)
    assert last["filename"] == "tests/integrations/test_exception_utils.py"
    assert last["module"] == __name__
    assert last["context_line"] == '    raise ValueError("inner boom")'
    assert last["lineno"] == inner.__code__.co_firstlineno + 1
    assert last["pre_context"][-1] == "def inner() -> None:"
    assert len(last["pre_context"]) == 5
    assert len(last["post_context"]) == 5
    assert last["in_app"] is True


def test_in_app_false_for_site_packages_and_absent_outside_the_project() -> None:
    requests = pytest.importorskip("requests")
    exc = raised(lambda: requests.Request("GET", "http://[::1").prepare())
    frames = props_of(exc, project_root=REPO)["$exception_list"][-1]["stacktrace"]["frames"]
    library = [f for f in frames if f["module"].startswith("requests.")]

    assert library
    assert all(f["in_app"] is False for f in library)
    assert library[0]["filename"].startswith("requests/")

    stdlib = raised(lambda: json.loads("{"))
    frames = props_of(stdlib, project_root=HERE)["$exception_list"][0]["stacktrace"]["frames"]
    json_frames = [f for f in frames if f["module"].startswith("json")]
    assert json_frames
    assert all("in_app" not in f for f in json_frames)
    assert json_frames[0]["filename"] == "__init__.py"  # top-level module: basename


def test_in_app_absent_without_project_root() -> None:
    frames = props_of(raised(inner), project_root=None)["$exception_list"][0]["stacktrace"]["frames"]
    assert all("in_app" not in f for f in frames)


def test_project_root_matches_whole_directories_only() -> None:
    frames = props_of(raised(inner), project_root=HERE + "_other")["$exception_list"][0]["stacktrace"][
        "frames"
    ]
    assert all("in_app" not in f for f in frames)


def hidden_helper() -> None:
    __traceback_hide__ = True
    inner()


def pytest_style_hidden_helper() -> None:
    __tracebackhide__ = True
    hidden_helper()


def test_hidden_frames_are_skipped() -> None:
    frames = props_of(raised(pytest_style_hidden_helper))["$exception_list"][0]["stacktrace"]["frames"]
    assert [f["function"] for f in frames] == ["raised", "inner"]


def test_sentry_sdk_frames_are_skipped() -> None:
    namespace: dict[str, Any] = {"__name__": "sentry_sdk.fake"}
    exec("def boom():\n    raise ValueError('from sentry')\n", namespace)

    frames = props_of(raised(namespace["boom"]))["$exception_list"][0]["stacktrace"]["frames"]

    assert [f["function"] for f in frames] == ["raised"]


def test_frames_without_source_have_empty_context() -> None:
    namespace: dict[str, Any] = {"__name__": "generated"}
    exec("def boom():\n    raise ValueError('generated')\n", namespace)

    frame = props_of(raised(namespace["boom"]))["$exception_list"][0]["stacktrace"]["frames"][-1]

    assert frame["module"] == "generated"
    assert frame["function"] == "boom"
    assert (frame["pre_context"], frame["context_line"], frame["post_context"]) == ([], None, [])


def load_module(path: str, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_long_source_lines_are_truncated_not_dropped(tmp_path: Any) -> None:
    long_literal = "é" * 1500  # two bytes each: the cut must not split a character
    source = (
        "def boom():\n"
        f"    text = '{long_literal}'\n"
        f"    raise ValueError('long'); '{long_literal}'\n"
        "    # after\n"
    )
    path = tmp_path / "longlines.py"
    path.write_text(source, encoding="utf-8")
    module = load_module(str(path), "longlines")

    frame = props_of(raised(module.boom))["$exception_list"][0]["stacktrace"]["frames"][-1]

    assert frame["filename"] == "longlines.py"
    for line in (frame["pre_context"][-1], frame["context_line"]):
        assert isinstance(line, str)
        assert line.endswith("...")
        assert len(line.encode("utf-8")) <= MAX_LINE_BYTES
    assert frame["context_line"].startswith("    raise ValueError('long')")
    assert frame["post_context"] == ["    # after"]
    json.dumps(frame)  # a plain, serialisable value


def recurse(n: int) -> int:
    return recurse(n + 1) + 1


def test_deep_recursion_keeps_a_bounded_number_of_frames() -> None:
    frames = props_of(raised(lambda: recurse(0)))["$exception_list"][0]["stacktrace"]["frames"]
    assert len(frames) == MAX_FRAMES
    assert frames[0]["function"] == "raised"
    assert frames[-1]["function"] == "recurse"


# -- exception groups ------------------------------------------------------------------------------


@requires_groups
def test_exception_group_is_expanded_with_ids() -> None:
    def fail() -> None:
        raise ExceptionGroup(  # noqa: F821 - builtin on 3.11+
            "top",
            [ValueError("a"), ExceptionGroup("sub", [KeyError("k")]), OSError(2, "nofile")],  # noqa: F821
        ) from RuntimeError("cause")

    props = props_of(raised(fail))
    summary = [
        (
            e["type"],
            e["mechanism"].get("exception_id"),
            e["mechanism"].get("parent_id"),
            e["mechanism"].get("source"),
        )
        for e in props["$exception_list"]
    ]

    assert summary == [
        ("FileNotFoundError", 5, 0, "exceptions[2]"),
        ("KeyError", 4, 3, "exceptions[0]"),
        ("ExceptionGroup", 3, 0, "exceptions[1]"),
        ("ValueError", 2, 0, "exceptions[0]"),
        ("RuntimeError", 1, 0, "__cause__"),
        ("ExceptionGroup", 0, None, None),
    ]
    top = props["$exception_list"][-1]
    assert top["mechanism"]["type"] == "generic"
    assert top["mechanism"]["is_exception_group"] is True
    assert "stacktrace" in top
    assert all(e["mechanism"]["type"] == "chained" for e in props["$exception_list"][:-1])
    assert props["$exception_type"] == "FileNotFoundError"


@requires_groups
def test_group_member_pointing_back_at_its_group_terminates() -> None:
    member = ValueError("member")
    group = ExceptionGroup("g", [member])  # noqa: F821 - builtin on 3.11+
    member.__context__ = group

    types = [e["type"] for e in exception_list((type(group), group, None), None)]

    assert types == ["ValueError", "ExceptionGroup"]


@requires_groups
def test_group_in_the_context_of_a_plain_exception_is_flagged_not_expanded() -> None:
    def fail() -> None:
        try:
            raise ExceptionGroup("g", [ValueError("a")])  # noqa: F821 - builtin on 3.11+
        except ExceptionGroup:  # noqa: F821
            raise RuntimeError("wrapper")  # noqa: B904 - implicit context under test

    items = props_of(raised(fail))["$exception_list"]

    assert [e["type"] for e in items] == ["ExceptionGroup", "RuntimeError"]
    assert items[0]["mechanism"] == {"type": "generic", "handled": True, "is_exception_group": True}


# -- argument forms --------------------------------------------------------------------------------


def test_exc_info_from_accepts_instance_and_triple() -> None:
    exc = raised(inner)
    assert exc_info_from(exc) == (ValueError, exc, exc.__traceback__)
    assert exc_info_from((ValueError, exc, exc.__traceback__)) == (ValueError, exc, exc.__traceback__)


def test_exc_info_from_none_uses_the_exception_being_handled() -> None:
    assert exc_info_from(None) is None
    try:
        inner()
    except ValueError as exc:
        info = exc_info_from(None)
        assert info is not None
        assert info[1] is exc
        assert isinstance(info[2], TracebackType)


class NeedsArguments(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)


@pytest.mark.parametrize(
    "argument",
    [(None, None, None), "not an exception", 42, (1, 2), (NeedsArguments, None, None), (int, 5, None)],
    ids=["empty-triple", "string", "int", "short-tuple", "uninstantiable-type", "not-exceptions"],
)
def test_exc_info_from_returns_none_without_an_exception(argument: Any) -> None:
    assert exc_info_from(argument) is None


def test_exc_info_from_type_only_triple_instantiates_the_type() -> None:
    info = exc_info_from((ValueError, None, None))
    assert info is not None
    assert info[0] is ValueError
    assert isinstance(info[1], ValueError)


def test_mismatched_triple_takes_the_value_type() -> None:
    exc = ValueError("v")
    info = exc_info_from(("not a type", exc, "not a traceback"))
    assert info == (ValueError, exc, None)
