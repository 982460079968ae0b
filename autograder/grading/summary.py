"""``summary.html``: what the class as a whole got wrong, for the TA.

A score histogram, each question's pass rate, the failures grouped so that one mistake made by
many students is one row, and every student with a link to their feedback page. Failures group
by question, then by the mistake a check named (its hint), or else by the message with
its numbers masked (names such as ``W1`` kept). Self-contained HTML: inline SVG, no scripts, no
external files.
"""
from __future__ import annotations

import html
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from urllib.parse import quote

from .reports import _points, first_failure_line
from .results import StudentResult

# A number on its own, not the digits of a name (W1, b2, test_2), of a word, or of a formula (1/N).
_NUMBER = re.compile(r"(?<![A-Za-z_\d.])-?\d+(?:\.\d+)?(?:e[-+]?\d+)?(?![A-Za-z_\d]|/[A-Za-z])")
_HINT = re.compile(r"\bhint:\s*(.+)", re.I)
SHOWN_GROUPS = 20


def masked(line: str) -> str:
    """``line`` with its numbers as ``#``, so that "difference 0.31" and "difference 1.7" group."""
    return _NUMBER.sub("#", line)[:200]


def named_mistake(output: str) -> str:
    """The first hint in a failure message ("hint: ..." on a line of its own, or "Hint: ..." inside
    one), with the lines it was wrapped onto (indented deeper than its own line) joined back."""
    lines = output.splitlines()
    for i, line in enumerate(lines):
        found = _HINT.search(line)
        if not found:
            continue
        indent = len(line) - len(line.lstrip())
        parts = [found.group(1).strip()]
        for more in lines[i + 1:]:
            if not more.strip() or len(more) - len(more.lstrip()) <= indent:
                break
            parts.append(more.strip())
        return " ".join(parts)
    return ""


def failure_signature(output: str, reason: str = "") -> tuple[str, str]:
    """``(kind, text)`` that stands for a failure: ``("mistake", hint)`` when a check named the
    likely mistake, else ``("message", first line with numbers masked)``."""
    if reason:
        return "message", masked(reason)
    hint = named_mistake(output)
    if hint:
        return "mistake", masked(hint)
    return "message", masked(first_failure_line(output) or "failed without a message")


@dataclass
class FailureGroup:
    question: str
    kind: str  # "mistake" (the hint a check gave) or "message"
    text: str
    students: list[str] = field(default_factory=list)


def pass_rates(results: list[StudentResult]) -> list[tuple[str, int, int]]:
    """``(grade_id, full marks count, graded count)`` per question, in notebook order."""
    order = list(dict.fromkeys(c.grade_id for r in results for c in r.cells))
    counts = {gid: [0, 0] for gid in order}
    for r in results:
        for c in r.cells:
            counts[c.grade_id][1] += 1
            counts[c.grade_id][0] += c.passed
    return [(gid, full, total) for gid, (full, total) in counts.items()]


def failure_groups(results: list[StudentResult]) -> list[FailureGroup]:
    """Every failure, grouped by question and by mistake or message; most students first."""
    groups: dict[tuple[str, str, str], FailureGroup] = {}
    for r in results:
        failed = [("(whole notebook)", "", r.reason)] if r.reason else \
            [(c.grade_id, c.output, "") for c in r.cells if not c.passed]
        for question, output, reason in failed:
            kind, text = failure_signature(output, reason)
            group = groups.setdefault((question, kind, text), FailureGroup(question, kind, text))
            group.students.append(r.student)
    for group in groups.values():
        group.students.sort()
    # Most students first; among equals a named mistake before a bare message, and work not yet
    # started ("not implemented yet") last: it needs no explaining.
    return sorted(groups.values(), key=lambda g: (-len(g.students), g.kind != "mistake",
                                                  "not implemented yet" in g.text, g.question, g.text))


def score_bins(scores: list[float], max_score: float) -> list[tuple[str, int]]:
    """``(label, count)`` per bar: one bar per whole score when every score is whole (up to 40
    points), else ten equal bins below full marks; full marks always has a bar of its own."""
    whole = max_score == int(max_score) and max_score <= 40 and all(s == int(s) for s in scores)
    if whole:
        counts = Counter(int(s) for s in scores)
        return [(f"{i}", counts[i]) for i in range(int(max_score) + 1)]
    counts = Counter(min(9, int(10 * s / max_score)) if max_score else 0 for s in scores if s < max_score)
    bars = [(f"{max_score * i / 10:g}–", counts[i]) for i in range(10)]
    return bars + [(f"{max_score:g}", sum(s >= max_score for s in scores))]


def _histogram_svg(scores: list[float], max_score: float) -> str:
    bins = score_bins(scores, max_score)
    tallest = max((n for _, n in bins), default=1) or 1
    bar = max(14, min(40, 440 // len(bins)))
    top, height = 16, 150  # room above the tallest bar for its count
    width = len(bins) * (bar + 2)
    parts = [f'<svg width="{width}" height="{top + height + 30}" role="img" aria-label="score histogram">']
    for i, (label, count) in enumerate(bins):
        h = 0 if not count else max(2, int(height * count / tallest))
        x = i * (bar + 2)
        full = i == len(bins) - 1
        parts.append(f'<rect x="{x}" y="{top + height - h}" width="{bar}" height="{h}" '
                     f'fill="{"#55a868" if full else "#4c72b0"}"><title>{html.escape(label)}: {count} students</title></rect>')
        if count:
            parts.append(f'<text x="{x + bar / 2}" y="{top + height - h - 3}" font-size="11" text-anchor="middle">{count}</text>')
        parts.append(f'<text x="{x + bar / 2}" y="{top + height + 14}" font-size="10" text-anchor="middle">{html.escape(label)}</text>')
    parts.append(f'<text x="0" y="{top + height + 28}" font-size="10">score (out of {max_score:g}; full marks in green)</text></svg>')
    return "".join(parts)


def feedback_link(student: str, notebook: str) -> str:
    """The student's name as a link to their feedback page (beside summary.html in the output)."""
    href = f"feedback/{quote(student)}/{quote(notebook)}.html"
    return f'<a href="{href}">{html.escape(student)}</a>'


def _failure_rows(groups: list[FailureGroup], notebook: str) -> str:
    rows = []
    for g in groups[:SHOWN_GROUPS]:
        what = (f"<b>mistake:</b> {html.escape(g.text)}" if g.kind == "mistake"
                else f"<code>{html.escape(g.text)}</code>")
        who = ", ".join(feedback_link(s, notebook) for s in g.students)
        rows.append(f"<tr><td>{len(g.students)}</td><td>{html.escape(g.question)}</td><td>{what}</td><td>{who}</td></tr>")
    hidden = groups[SHOWN_GROUPS:]
    if hidden:
        rows.append(f'<tr><td colspan="4"><i>{len(hidden)} more groups not shown '
                    f"({sum(len(g.students) for g in hidden)} failures, each hitting "
                    f"{max(len(g.students) for g in hidden)} student(s) or fewer): see the students below.</i></td></tr>")
    return "\n".join(rows)


def _student_rows(results: list[StudentResult], notebook: str) -> str:
    rows = []
    for r in sorted(results, key=lambda r: (r.score, r.student)):
        lost = ", ".join(c.grade_id for c in r.cells if not c.passed) or "-"
        why = r.reason or "; ".join(r.notes)
        rows.append(f"<tr><td>{feedback_link(r.student, notebook)}</td><td>{_points(r.score)}/{_points(r.max_score)}</td>"
                    f"<td>{html.escape(lost)}</td><td>{html.escape(why)}</td></tr>")
    return "\n".join(rows)


def summary_html(results: list[StudentResult], assignment: str, seed: int | None, isolation: str = "",
                 notebook: str = "") -> str:
    """The page; ``isolation`` is the line naming the layers the kernels ran under, ``notebook``
    the notebook's stem (the feedback pages are ``feedback/<student>/<notebook>.html``)."""
    if not results:
        return f"<!doctype html><title>{html.escape(assignment)}</title><p>No submissions.</p>"
    notebook = notebook or assignment
    scores = sorted(r.score for r in results)
    max_score = max(r.max_score for r in results)
    mean = sum(scores) / len(scores)
    median = scores[len(scores) // 2] if len(scores) % 2 else (scores[len(scores) // 2 - 1] + scores[len(scores) // 2]) / 2
    rates = "\n".join(
        f'<tr><td>{html.escape(gid)}</td><td>{full}/{total}</td><td><div style="background:#4c72b0;height:.8em;'
        f'width:{0 if not total else 100 * full / total:.0f}%"></div></td></tr>' for gid, full, total in pass_rates(results))
    groups = failure_groups(results)
    errors = [r for r in results if r.reason]
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(assignment)}: class summary</title>
<style>body {{ font-family: system-ui, sans-serif; max-width: 70em; margin: 2em auto; color: #222; }}
table {{ border-collapse: collapse; width: 100%; margin-bottom: 2em; }} td, th {{ border-bottom: 1px solid #ddd; padding: .3em; text-align: left; vertical-align: top; }}
code {{ white-space: pre-wrap; overflow-wrap: break-word; }}</style></head><body>
<h1>{html.escape(assignment)}: class summary</h1>
<p>{len(results)} submissions; mean {mean:.2f}, median {median:g} of {max_score:g};
{sum(r.score >= r.max_score for r in results)} with full marks; {len(errors)} could not be graded.
Hidden-test seed: {seed if seed is not None else "n/a"}.</p>
{f'<p>Kernels ran under {html.escape(isolation.removeprefix("isolation: "))}.</p>' if isolation else ""}
<h2>Scores</h2>{_histogram_svg(scores, max_score)}
<h2>Pass rate per question</h2>
<table><tr><th>question</th><th>full marks</th><th></th></tr>{rates}</table>
<h2>Failures by question and mistake</h2>
<p>A row is one mistake a check named (its hint), or else one message with its numbers masked.
Names link to each student's feedback page.</p>
<table><tr><th>students</th><th>question</th><th>mistake or message</th><th>who</th></tr>{_failure_rows(groups, notebook)}</table>
<h2>Students</h2>
<table><tr><th>student</th><th>score</th><th>lost points in</th><th>reason / notes</th></tr>{_student_rows(results, notebook)}</table>
</body></html>
"""
