"""What a grading run writes: grades.csv, one feedback page and one results.json per student,
and the gradebook table printed at the end.

    DIR/grades.csv                          student,assignment,score,max_score,<test cells...>,seed,status,reason
    DIR/feedback/<student>/<notebook>.html  per-question points, messages and hints, seed (no hidden test source)
    DIR/results/<student>.json              Gradescope's results.json format (extra_data.isolation: the
                                            layers the student's kernel ran under)
"""
from __future__ import annotations

import csv
import html
import json
import re
from pathlib import Path

from .results import StudentResult
from .timing_chart import parse_timing_tables, timing_chart_svg

BASE_COLUMNS = ["student", "assignment", "score", "max_score"]
TAIL_COLUMNS = ["seed", "status", "reason", "notes"]


def _points(x: float) -> str:
    return f"{x:g}"


def grades_row(r: StudentResult, cell_ids: list[str]) -> dict[str, str]:
    scores = r.cell_scores()
    row = {"student": r.student, "assignment": r.assignment, "score": _points(r.score), "max_score": _points(r.max_score)}
    row.update({gid: _points(scores.get(gid, 0.0)) for gid in cell_ids})
    row.update({"seed": "" if r.seed is None else str(r.seed), "status": r.status, "reason": r.reason,
                "notes": " | ".join(r.notes)})
    return row


def write_grades_csv(results: list[StudentResult], path: Path, extra_rows: list[dict] | None = None) -> None:
    """One row per student, sorted; one column per test cell (in notebook order).

    ``extra_rows`` are rows kept from an earlier run (a regrade of some students keeps the others).
    """
    cell_ids = list(dict.fromkeys(c.grade_id for r in results for c in r.cells))
    columns = BASE_COLUMNS + cell_ids + TAIL_COLUMNS
    rows = [grades_row(r, cell_ids) for r in results] + list(extra_rows or [])
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore", restval="")
        writer.writeheader()
        writer.writerows(sorted(rows, key=lambda row: row["student"]))


def gradescope_results(r: StudentResult) -> dict:
    """Gradescope's results.json: total score, then one test per graded cell."""
    header = []
    if r.reason:
        header.append(f"This submission could not be graded: {r.reason}")
    header += r.notes
    if r.seed is not None:
        header.append(f"Hidden tests used seed {r.seed}.")
    payload = {
        "score": r.score,
        "output": "\n".join(header),
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": [{"name": c.grade_id, "score": c.score, "max_score": c.max_score,
                   "status": "passed" if c.passed else "failed",
                   "output": c.output or (r.reason if r.reason else ""), "visibility": "visible"}
                  for c in r.cells],
    }
    if r.isolation:  # Gradescope keeps extra_data for the staff; unknown top-level keys it does not document
        payload["extra_data"] = {"isolation": r.isolation}
    return payload


def write_results_json(r: StudentResult, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(gradescope_results(r), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 60em; margin: 2em auto; color: #222; }}
table {{ border-collapse: collapse; width: 100%; }} td, th {{ border-bottom: 1px solid #ddd; padding: .4em; text-align: left; vertical-align: top; }}
.pass {{ color: #1a7f37; }} .fail {{ color: #cf222e; }} pre {{ white-space: pre-wrap; margin: 0; font-size: .9em; }}
.box {{ background: #fff8c5; padding: .6em 1em; border-radius: .3em; margin: 1em 0; }}
</style></head><body>
<h1>{title}</h1>
<p><strong>Score: {score} / {max_score}</strong></p>
{boxes}
<table><tr><th>question</th><th>points</th><th>what the checks said</th></tr>
{rows}
</table>
{seed}
</body></html>
"""


def feedback_html(r: StudentResult) -> str:
    """A self-contained page for the student. It shows what each check printed (pass lines,
    failure messages, hints, timing tables); it never shows the test code, hidden or not."""
    boxes = ""
    if r.reason:
        boxes += f'<div class="box">This submission could not be graded: {html.escape(r.reason)}</div>'
    for note in r.notes:
        boxes += f'<div class="box">{html.escape(note)}</div>'
    rows = "\n".join(
        f'<tr><td>{html.escape(c.grade_id)}</td><td class="{"pass" if c.passed else "fail"}">'
        f'{_points(c.score)} / {_points(c.max_score)}</td><td><pre>{html.escape(c.output)}</pre>'
        + "".join(timing_chart_svg(t) for t in parse_timing_tables(c.output)) + "</td></tr>"
        for c in r.cells)
    seed = (f"<p>Hidden tests drew random inputs from seed {r.seed}; a TA can replay them exactly.</p>"
            if r.seed is not None else "")
    return _PAGE.format(title=html.escape(f"{r.assignment}: feedback for {r.student}"), score=_points(r.score),
                        max_score=_points(r.max_score), boxes=boxes, rows=rows, seed=seed)


def write_feedback(r: StudentResult, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(feedback_html(r), encoding="utf-8")


def first_failure_line(text: str) -> str:
    """The most informative line of a failed cell's output, for one-line summaries."""
    for line in text.splitlines():
        if re.match(r"^(CheckFailed|[A-Za-z]*Error|[A-Za-z]*Exception)\b", line.strip()):
            return line.strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("✓")]
    return lines[-1] if lines else ""


def gradebook_table(results: list[StudentResult]) -> str:
    """The table printed at the end of a run: score, which cells lost points, and why."""
    rows = [("student", "score", "lost points in", "reason / notes")]
    for r in sorted(results, key=lambda r: r.student):
        lost = [c.grade_id for c in r.cells if not c.passed]
        lost_text = "all" if lost and len(lost) == len(r.cells) else ", ".join(lost) or "-"
        why = r.reason or "; ".join(r.notes)
        rows.append((r.student, f"{_points(r.score)}/{_points(r.max_score)}", lost_text, why[:110]))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = []
    for i, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row[:3], widths)) + "  " + row[3])
        if i == 0:
            lines.append("-" * (sum(widths) + 6 + len("reason / notes")))
    return "\n".join(line.rstrip() for line in lines)
