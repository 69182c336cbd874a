"""Opt-in pytest plugin: the ``posthog_recorder`` fixture.

Enable it with ``pytest -p posthog.testing.pytest_plugin`` or, in a ``conftest.py``,
``pytest_plugins = ["posthog.testing.pytest_plugin"]``.

    def test_checkout(posthog_recorder):
        posthog_recorder.flags.flag("new-checkout", True)
        checkout("user-1")                      # code that calls posthog.capture(...)
        assert_captured(posthog_recorder, "order completed", distinct_id="user-1")
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from .. import _logging
from .._default_client import lock as default_client_lock
from .._options import FACADE_SETTINGS
from .._package import facade
from ._recording import RecordingClient

posthog: Any = facade()  # the package's facade, whatever name it was built under

__all__ = ["posthog_recorder"]


@pytest.fixture
def posthog_recorder() -> Iterator[RecordingClient]:
    """A :class:`RecordingClient` installed as ``posthog.default_client`` for this test.

    ``posthog.disabled`` is turned off while the test runs (a test settings file often sets it),
    and the previous default client and every module setting are put back afterwards.
    """
    saved_settings = {name: getattr(posthog, name) for name in FACADE_SETTINGS}
    # posthog.debug = True changes the "posthog" logger (level, a stream handler): put it back too.
    saved_logging = _logging.snapshot()
    recorder = RecordingClient(
        posthog.project_api_key or posthog.api_key or "phc_test",
        super_properties=posthog.super_properties,
        disable_geoip=posthog.disable_geoip,
        privacy_mode=posthog.privacy_mode,
        project_root=posthog.project_root,
    )
    with default_client_lock:
        saved_client = posthog.default_client
        posthog.default_client = recorder
    posthog.disabled = False
    try:
        yield recorder
    finally:
        with default_client_lock:
            posthog.default_client = saved_client
        for name, value in saved_settings.items():
            setattr(posthog, name, value)
        recorder.shutdown(timeout=0)
        _logging.restore(saved_logging)
