"""The library version (read by setup.py without importing the package).

Imports nothing: ``python posthog/version.py`` prints the version (as 3.x did), and with this
directory first on ``sys.path`` a stdlib import would find ``posthog/types.py`` instead.
"""

VERSION = "3.26.0"

if __name__ == "__main__":  # pragma: no cover - 3.x prints the version without a newline
    print(VERSION, end="")  # noqa: T201 - this is the script's output
