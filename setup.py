"""Package metadata and runtime requirements (tool configuration lives in pyproject.toml)."""

import os
import re

from setuptools import find_packages, setup

HERE = os.path.dirname(os.path.abspath(__file__))

with open(os.path.join(HERE, "posthog", "version.py"), encoding="utf-8") as fh:
    VERSION = re.search(r'VERSION = "([^"]+)"', fh.read()).group(1)  # type: ignore[union-attr]

with open(os.path.join(HERE, "README.md"), encoding="utf-8") as fh:
    LONG_DESCRIPTION = fh.read()

# `POSTHOG_DIST_NAME=posthoganalytics pip wheel .` builds the twin distribution: the same source
# tree installed under the top-level name `posthoganalytics` (all imports inside are relative).
DIST_NAME = os.environ.get("POSTHOG_DIST_NAME", "posthog")
if DIST_NAME not in ("posthog", "posthoganalytics"):
    raise SystemExit(f"POSTHOG_DIST_NAME must be posthog or posthoganalytics, not {DIST_NAME!r}")
PACKAGES = [DIST_NAME + name[len("posthog") :] for name in find_packages(include=["posthog", "posthog.*"])]

setup(
    name=DIST_NAME,
    version=VERSION,
    description="Drop-in PostHog SDK for Python: the posthog 3.x API, fork-safe, exit-safe and fast.",
    long_description=LONG_DESCRIPTION,
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.9",
    packages=PACKAGES,
    package_dir={DIST_NAME: "posthog"},
    package_data={DIST_NAME: ["py.typed"]},
    install_requires=[
        "requests>=2.7,<3.0",
        "backoff>=1.10.0",
        "python-dateutil>2.1",
    ],
    extras_require={
        "django": ["django>=4.2"],
        "flask": ["flask>=2.2"],
        "celery": ["celery>=5.3"],
        "sentry": ["sentry-sdk", "django>=4.2"],
        "openai": ["openai>=1.40"],
        "anthropic": ["anthropic>=0.40"],
        "langchain": ["langchain-core>=0.3"],
        "async": ["aiohttp>=3.9"],
        "redis": ["redis>=4.5"],
        "zstd": ["zstandard>=0.23.0"],
        "br": ["brotli>=1.0"],
        "openfeature": ["openfeature-sdk>=0.8"],
        "test": [
            "pytest>=7",
            "pytest-timeout>=2",
            "pytest-xdist>=3",
            "ruff>=0.5",
            "mypy>=1.8",
            "types-requests",
            "types-python-dateutil",
            "django>=4.2",
            "sentry-sdk>=1.40",
            "openai>=1.40",
            "anthropic>=0.40",
            "langchain-core>=0.3",
            "langchain-openai>=0.3",
            "httpx>=0.23",
            "aiohttp>=3.9",
            "fastapi>=0.100",
            "uvicorn>=0.23",
            "flask>=2.2",
            "celery>=5.3",
            "gunicorn>=21",
            "redis>=4.5",
            "zstandard>=0.23",
            "brotli>=1.0",
            "openfeature-sdk>=0.8",
        ],
    },
    classifiers=[
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3.9",
        "Programming Language :: Python :: 3.10",
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.12",
        "Programming Language :: Python :: 3.13",
        "Typing :: Typed",
    ],
)
