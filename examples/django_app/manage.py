#!/usr/bin/env python
"""Django's command-line utility for the demo project (e.g. `python manage.py runserver`)."""

from __future__ import annotations

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
# Run from a checkout without installing `posthog`.
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo_site.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
