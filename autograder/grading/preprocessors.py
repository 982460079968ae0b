"""nbgrader preprocessors of our own."""
from __future__ import annotations

from nbgrader.preprocessors import NbGraderPreprocessor


class StderrToStdout(NbGraderPreprocessor):
    """Move stderr output to stdout (prefixed) so that a warning never zeroes a test cell.

    nbgrader scores a test cell 0 when it wrote anything to stderr. A DeprecationWarning from a
    library, or a RuntimeWarning from NumPy, is not a failed test; a failed test raises. The text
    is kept, marked ``[stderr]``, so that it still reaches the feedback.
    """

    def preprocess_cell(self, cell, resources, cell_index):
        if cell.cell_type == "code":
            for out in cell.get("outputs", []):
                if out.get("output_type") == "stream" and out.get("name") == "stderr":
                    out["name"] = "stdout"
                    out["text"] = "".join(f"[stderr] {line}" for line in out["text"].splitlines(keepends=True))
        return cell, resources
