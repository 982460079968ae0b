"""Put a submission's cells back into the released notebook's shape before nbgrader sees it.

nbgrader zeroes a whole notebook for a slip in its metadata (a test cell without ``points``, a
blank or renamed ``grade_id``, a newer ``schema_version``, a copied test cell, an answer cell
marked as a test), and it does not put back a test cell the student deleted. The released
notebook is the authority on every cell it knows, so each submitted cell is matched to a released
cell, by cell id, else by ``grade_id``, each released cell at most once:

- a matched cell gets the released cell's type and nbgrader metadata; a test cell or a locked
  cell also gets its source back (nbgrader would restore the source of both, from the gradebook);
  an answer cell keeps the student's code;
- a cell that matches nothing is the student's own: it keeps its code and loses any nbgrader
  metadata (a copy of a test cell is then not a second test cell);
- a released test, answer or locked cell that nothing matched is added back where it was.

Every repair is a note, in words a student and a TA can check against the notebook.
"""
from __future__ import annotations

import copy
import uuid

import nbformat

from ..notebooks import nbgrader_meta


def _kind(cell) -> str:
    """What a released cell is to grading: "answer cell", "test cell", "locked cell" (read-only
    code, such as the set-up), or "" (markdown and plain cells: nothing to repair)."""
    meta = nbgrader_meta(cell)
    if meta.get("solution"):
        return "answer cell"
    if meta.get("grade"):
        return "test cell"
    return "locked cell" if meta.get("locked") and cell.cell_type == "code" else ""


def _match(submitted, released) -> list[int | None]:
    """For each submitted cell, the index of the released cell it is (or None)."""
    by_id = {c.get("id"): i for i, c in enumerate(released.cells) if c.get("id")}
    by_grade_id = {nbgrader_meta(c)["grade_id"]: i for i, c in enumerate(released.cells)
                   if nbgrader_meta(c).get("grade_id")}
    taken: set[int] = set()
    matches: list[int | None] = []
    for cell in submitted.cells:
        found = by_id.get(cell.get("id"))
        if found is None or found in taken:
            found = by_grade_id.get(nbgrader_meta(cell).get("grade_id"))
        if found is not None and found in taken:
            found = None
        if found is not None:
            taken.add(found)
        matches.append(found)
    return matches


def matches_anything(submitted, released) -> bool:
    """Whether any submitted cell is one of the released notebook's cells with nbgrader metadata."""
    return any(i is not None and nbgrader_meta(released.cells[i]) for i in _match(submitted, released))


def _restored(theirs, ours, gid: str, kind: str, notes: list[str]):
    """``ours`` (a released cell) as the submission should have it, given the student's ``theirs``."""
    cell = copy.deepcopy(theirs)
    if theirs.cell_type != ours.cell_type:
        notes.append(f"{kind} {gid} had been turned into {theirs.cell_type}; it was turned back into {ours.cell_type}")
        cell = copy.deepcopy(ours)
        cell["id"] = theirs.get("id") or ours.get("id")
        if kind == "answer cell":
            cell.source = theirs.source
        return cell
    meta_theirs, meta_ours = nbgrader_meta(theirs), nbgrader_meta(ours)
    if meta_theirs != meta_ours:
        changed = sorted(k for k in set(meta_theirs) | set(meta_ours) if meta_theirs.get(k) != meta_ours.get(k))
        if changed == ["points"] and "points" in meta_theirs:
            notes.append(f"the points of {gid} were changed from {meta_ours['points']:g} to "
                         f"{meta_theirs['points']}; the released {meta_ours['points']:g} count")
        else:
            notes.append(f"the nbgrader metadata of {kind} {gid} was repaired ({', '.join(changed)})")
        cell.metadata["nbgrader"] = copy.deepcopy(meta_ours)
    if kind in ("test cell", "locked cell") and theirs.source.strip() != ours.source.strip():
        notes.append(f"{kind} {gid} was edited; the released version was restored"
                     + (" and run" if kind == "test cell" else ""))
        cell.source = ours.source
    return cell


def normalised(submitted: nbformat.NotebookNode, released: nbformat.NotebookNode
               ) -> tuple[nbformat.NotebookNode, list[str]]:
    """The submission in the released notebook's shape, and a note per repair."""
    matches = _match(submitted, released)
    used = {i for i in matches if i is not None}
    notes: list[str] = []
    out = copy.deepcopy(submitted)
    cells = []
    next_released = 0  # released cells before this index are placed (matched or added back)

    def add_back_until(index: int) -> None:
        nonlocal next_released
        for i in range(next_released, index):
            ours = released.cells[i]
            kind = _kind(ours)
            if i not in used and kind:
                gid = nbgrader_meta(ours)["grade_id"]
                notes.append(f"{kind} {gid} was missing; it was added back"
                             + (" and run" if kind == "test cell" else " as released"))
                cells.append(copy.deepcopy(ours))
        next_released = max(next_released, index)

    seen_ids: set[str] = set()
    for cell, i in zip(submitted.cells, matches):
        if i is None:
            own = copy.deepcopy(cell)
            if "nbgrader" in own.metadata:
                gid = nbgrader_meta(own).get("grade_id") or "(no grade_id)"
                notes.append(f"a cell with the nbgrader metadata of {gid} is not one of the released cells "
                             "(a copy?); it runs as your own cell and is not graded")
                del own.metadata["nbgrader"]
        else:
            add_back_until(i + 1 if i >= next_released else next_released)
            ours = released.cells[i]
            kind = _kind(ours)
            own = _restored(cell, ours, nbgrader_meta(ours).get("grade_id", ""), kind, notes) if kind else \
                copy.deepcopy(cell)
        if not own.get("id") or own["id"] in seen_ids:
            own["id"] = uuid.uuid4().hex[:8]
        seen_ids.add(own["id"])
        cells.append(own)
    add_back_until(len(released.cells))
    out.cells = cells
    return out, _summarised(notes)


MANY = 5  # metadata repairs beyond which one note says it for all (a tool that drops the metadata)


def _summarised(notes: list[str]) -> list[str]:
    repaired = [n for n in notes if n.startswith("the nbgrader metadata of ")]
    if len(repaired) <= MANY:
        return notes
    rest = [n for n in notes if n not in repaired]
    return [f"the nbgrader metadata of {len(repaired)} cells was missing or changed (saved by a tool that "
            "drops it?); it was put back from the released notebook, each cell matched by its id"] + rest
