"""Bar charts of the timing tables that speed checks print, for the HTML feedback page.

The checks print :class:`autograder.timing.TimingTable` as text (that is what the student sees
in the notebook); this module finds those tables in a cell's output and draws each as an inline
SVG bar chart (log scale), so the page needs no scripts and no image files.
"""
from __future__ import annotations

import html
import math
import re

from ..timing import format_seconds

_HEADER = re.compile(r"^implementation\s+device\s+median time")
_UNITS = {"s": 1.0, "ms": 1e-3, "µs": 1e-6, "us": 1e-6, "ns": 1e-9}


def parse_timing_tables(text: str) -> list[list[tuple[str, str, float | None]]]:
    """Every timing table in ``text``: a list of ``(implementation, device, seconds or None)`` rows."""
    tables, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        if _HEADER.match(lines[i].strip()):
            rows, i = [], i + 2  # skip the header and the dashes
            while i < len(lines) and lines[i].strip():
                cells = re.split(r"\s{2,}", lines[i].strip())
                if len(cells) < 3:
                    break
                name, device, time_text = cells[0], cells[1], cells[2]
                m = re.match(r"^([\d.]+)\s*(s|ms|µs|us|ns)$", time_text)
                rows.append((name, device, float(m[1]) * _UNITS[m[2]] if m else None))
                i += 1
            if rows:
                tables.append(rows)
        else:
            i += 1
    return tables


def timing_chart_svg(rows: list[tuple[str, str, float | None]]) -> str:
    """Horizontal bars on a log scale, one per measured implementation; skipped rows are listed."""
    measured = [(n, d, t) for n, d, t in rows if t]
    if not measured:
        return ""
    lo = math.floor(math.log10(min(t for *_, t in measured))) - 0.3
    hi = math.log10(max(t for *_, t in measured)) + 0.1
    label_w, bar_w, row_h = 230, 300, 22
    parts = [f'<svg width="{label_w + bar_w + 90}" height="{row_h * len(rows) + 6}" role="img" aria-label="timing">']
    for k, (name, device, t) in enumerate(rows):
        y = k * row_h + 3
        parts.append(f'<text x="0" y="{y + 14}" font-size="12">{html.escape(f"{name} [{device}]")}</text>')
        if t:
            w = max(2, bar_w * (math.log10(t) - lo) / (hi - lo))
            parts.append(f'<rect x="{label_w}" y="{y}" width="{w:.0f}" height="{row_h - 6}" fill="#4c72b0"/>')
            parts.append(f'<text x="{label_w + w + 4:.0f}" y="{y + 14}" font-size="11">{format_seconds(t)}</text>')
        else:
            parts.append(f'<text x="{label_w}" y="{y + 14}" font-size="11" fill="#777">skipped</text>')
    parts.append("</svg>")
    return "".join(parts)
