"""``summary.html``: what the class as a whole got wrong, for the TA.

A score histogram, each question's pass rate, and the most common failure messages (numbers
masked, so "greatest absolute difference: 0.31" and "...: 1.7" count as one message), each with
the students it hit. Self-contained HTML: inline SVG, no scripts, no external files.
"""
from __future__ import annotations

import html
import re
from collections import Counter, defaultdict

from .reports import first_failure_line
from .results import StudentResult

_NUMBER = re.compile(r"-?\d+(\.\d+)?(e-?\d+)?")


def failure_signature(output: str, reason: str = "") -> str:
    """The message that stands for a failure, with numbers masked so that alike failures group."""
    line = reason or first_failure_line(output) or "failed without a message"
    return _NUMBER.sub("#", line)[:200]


def pass_rates(results: list[StudentResult]) -> list[tuple[str, int, int]]:
    """``(grade_id, full marks count, graded count)`` per question, in notebook order."""
    order = list(dict.fromkeys(c.grade_id for r in results for c in r.cells))
    counts = {gid: [0, 0] for gid in order}
    for r in results:
        for c in r.cells:
            counts[c.grade_id][1] += 1
            counts[c.grade_id][0] += c.passed
    return [(gid, full, total) for gid, (full, total) in counts.items()]


def common_failures(results: list[StudentResult], top: int = 10) -> list[tuple[str, str, list[str]]]:
    """``(question, message, students)`` for the most frequent failures, most students first."""
    hits: dict[tuple[str, str], list[str]] = defaultdict(list)
    for r in results:
        if r.reason:
            hits[("(whole notebook)", failure_signature("", r.reason))].append(r.student)
            continue
        for c in r.cells:
            if not c.passed:
                hits[(c.grade_id, failure_signature(c.output))].append(r.student)
    ranked = sorted(hits.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    return [(q, msg, sorted(students)) for (q, msg), students in ranked[:top]]


def _histogram_svg(scores: list[float], max_score: float, bins: int = 10) -> str:
    counts = Counter(min(bins - 1, int(bins * s / max_score)) if max_score else 0 for s in scores)
    tallest = max(counts.values(), default=1)
    width, height, bar = 420, 160, 40
    parts = [f'<svg width="{width}" height="{height + 30}" role="img" aria-label="score histogram">']
    for i in range(bins):
        h = 0 if not counts[i] else max(2, int(height * counts[i] / tallest))
        x = i * (bar + 2)
        lo = max_score * i / bins
        parts.append(f'<rect x="{x}" y="{height - h}" width="{bar}" height="{h}" fill="#4c72b0">'
                     f'<title>{lo:g}+ : {counts[i]} students</title></rect>')
        if counts[i]:
            parts.append(f'<text x="{x + bar / 2}" y="{height - h - 3}" font-size="11" text-anchor="middle">{counts[i]}</text>')
        parts.append(f'<text x="{x + bar / 2}" y="{height + 14}" font-size="10" text-anchor="middle">{lo:g}</text>')
    parts.append(f'<text x="0" y="{height + 28}" font-size="10">score (out of {max_score:g})</text></svg>')
    return "".join(parts)


def summary_html(results: list[StudentResult], assignment: str, seed: int | None, isolation: str = "") -> str:
    """The page; ``isolation`` is the line naming the layers the kernels ran under."""
    if not results:
        return f"<!doctype html><title>{html.escape(assignment)}</title><p>No submissions.</p>"
    scores = sorted(r.score for r in results)
    max_score = max(r.max_score for r in results)
    mean = sum(scores) / len(scores)
    median = scores[len(scores) // 2] if len(scores) % 2 else (scores[len(scores) // 2 - 1] + scores[len(scores) // 2]) / 2
    rates = "\n".join(
        f'<tr><td>{html.escape(gid)}</td><td>{full}/{total}</td><td><div style="background:#4c72b0;height:.8em;'
        f'width:{0 if not total else 100 * full / total:.0f}%"></div></td></tr>' for gid, full, total in pass_rates(results))
    failures = "\n".join(
        f"<tr><td>{len(students)}</td><td>{html.escape(q)}</td><td><code>{html.escape(msg)}</code></td>"
        f"<td>{html.escape(', '.join(students[:12]))}{' …' if len(students) > 12 else ''}</td></tr>"
        for q, msg, students in common_failures(results))
    errors = [r for r in results if r.reason]
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(assignment)}: class summary</title>
<style>body {{ font-family: system-ui, sans-serif; max-width: 70em; margin: 2em auto; color: #222; }}
table {{ border-collapse: collapse; width: 100%; margin-bottom: 2em; }} td, th {{ border-bottom: 1px solid #ddd; padding: .3em; text-align: left; vertical-align: top; }}
td:nth-child(3) {{ width: 40%; }} code {{ white-space: pre-wrap; }}</style></head><body>
<h1>{html.escape(assignment)}: class summary</h1>
<p>{len(results)} submissions; mean {mean:.2f}, median {median:g} of {max_score:g};
{sum(r.score >= r.max_score for r in results)} with full marks; {len(errors)} could not be graded.
Hidden-test seed: {seed if seed is not None else "n/a"}.</p>
{f'<p>Kernels ran under {html.escape(isolation.removeprefix("isolation: "))}.</p>' if isolation else ""}
<h2>Scores</h2>{_histogram_svg(scores, max_score)}
<h2>Pass rate per question</h2>
<table><tr><th>question</th><th>full marks</th><th></th></tr>{rates}</table>
<h2>Most common failures</h2>
<table><tr><th>students</th><th>question</th><th>message (numbers masked)</th><th>who</th></tr>{failures}</table>
</body></html>
"""
