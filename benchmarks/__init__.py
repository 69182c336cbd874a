"""Side-by-side benchmarks against posthog 3.25.0 (``python -m benchmarks.run``); not shipped."""
