"""The result table ``benchmarks.run`` prints: aligned columns, the notes, one ``BENCH`` line per row."""

from __future__ import annotations

from collections.abc import Sequence

from benchmarks._harness import Row, fmt

__all__ = ["render"]


def _ratio_text(row: Row) -> str:
    if row.ratio is None:
        return "-"
    prefix = "<" if row.ref_text.startswith("killed") else ""
    return f"{prefix}{row.ratio:.3f}"


def _bench_line(row: Row) -> str:
    ref = (row.ref_text.replace(" ", "_") or fmt(row.ref, row.decimals)).replace(",", "")
    ours = fmt(row.ours, row.decimals).replace(",", "")
    invalid = " invalid=yes" if row.note.startswith("INVALID") else ""
    return (
        f"BENCH row={row.name} ref={ref} ours={ours} ratio={_ratio_text(row)} "
        f"target={row.target} met={row.met}{invalid}"
    )


def render(rows: Sequence[Row], have_ref: bool) -> str:
    header = ("row", "posthog 3.25.0 (median)", "ours (median)", "ratio (ours/ref)", "target", "met?")
    body = [
        (
            f"{row.label} [{row.unit}]",
            (row.ref_text or fmt(row.ref, row.decimals)) if have_ref or row.ref_text else "not installed",
            fmt(row.ours, row.decimals),
            _ratio_text(row),
            row.target,
            row.met,
        )
        for row in rows
    ]
    widths = [max(len(str(line[i])) for line in [header, *body]) for i in range(len(header))]
    lines = [" | ".join(str(c).ljust(w) for c, w in zip(line, widths)) for line in [header, *body]]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    notes = [f"  {row.name}: {row.note}" for row in rows if row.note]
    bench = [_bench_line(row) for row in rows]
    return "\n".join([*lines, "", "notes:", *notes, "", *bench])
