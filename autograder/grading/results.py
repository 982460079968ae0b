"""What grading one submission produces (plain data, shared by the engine and the reports)."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class CellResult:
    """One autograded test cell: its points and the text it printed (pass lines or the failure)."""
    grade_id: str
    score: float
    max_score: float
    output: str = ""

    @property
    def passed(self) -> bool:
        return self.score >= self.max_score


@dataclass
class StudentResult:
    """One student's grade for one assignment. ``reason`` is set when the submission could not be
    graded normally (it then scores 0); ``notes`` are things the TA should know (edited test cells)."""
    student: str
    assignment: str
    max_score: float
    cells: list[CellResult] = field(default_factory=list)
    seed: int | None = None
    reason: str = ""
    notes: list[str] = field(default_factory=list)
    submission: str = ""
    seconds: float = 0.0            # all of grade_one
    execution_seconds: float = 0.0  # of which running the notebook (kernel start to shutdown)
    isolation: dict = field(default_factory=dict)  # the layers its kernel ran under (Isolation.as_dict)

    @property
    def score(self) -> float:
        return float(sum(c.score for c in self.cells))

    @property
    def status(self) -> str:
        if self.reason:
            return "error"
        return "full marks" if self.score >= self.max_score else "graded"

    def cell_scores(self) -> dict[str, float]:
        return {c.grade_id: c.score for c in self.cells}
