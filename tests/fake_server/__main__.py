"""``python -m tests.fake_server``: the same as ``python -m posthog.testing.fake_server``."""

from __future__ import annotations

import sys

from posthog.testing.fake_server.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
