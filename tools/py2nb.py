#!/usr/bin/env python3
"""Write an nbgrader master notebook from a percent-format script (an authoring convenience).

The .ipynb in source/ is the master; this tool only helps write a first draft in a text
editor. Cell headers:

    # %% [markdown]                     markdown, each line commented out: "# text", or "#" alone
    # %% [markdown] locked id=intro     read-only markdown
    # %%                                plain code
    # %% locked id=setup                read-only code
    # %% solution id=dot_loop           student answer cell (### BEGIN/END SOLUTION inside)
    # %% tests id=test_dot_loop points=1    autograded test cell (### BEGIN/END HIDDEN TESTS inside)
    # %% tags=nbval-ignore-output       any cell may carry tags (comma-separated)

Usage: python tools/py2nb.py draft.py source/<a>/<notebook>.ipynb
"""
import sys

import nbformat


def parse_header(line: str) -> dict:
    words = line[4:].split()
    spec = {"markdown": "[markdown]" in words, "kind": None, "id": None, "points": None, "tags": []}
    for w in words:
        if w in ("solution", "tests", "locked"):
            spec["kind"] = w
        elif w.startswith("id="):
            spec["id"] = w[3:]
        elif w.startswith("points="):
            spec["points"] = float(w[7:])
        elif w.startswith("tags="):
            spec["tags"] = w[5:].split(",")
    return spec


def uncomment(line: str) -> str:
    """A markdown line of the draft without its comment prefix: ``# text`` -> ``text``, ``#`` -> ``""``.

    Only the one space after ``#`` goes, so indentation inside a code block survives."""
    if not line.strip():
        return ""
    if line == "#" or line.startswith("# "):
        return line[2:]
    raise SystemExit(f"a markdown line of the draft must start with '# ' (or be '#' alone): {line!r}")


def make_cell(spec: dict, body: str):
    if spec["markdown"]:
        body = "\n".join(uncomment(line) for line in body.strip("\n").splitlines())
    body = body.strip("\n")
    cell = nbformat.v4.new_markdown_cell(body) if spec["markdown"] else nbformat.v4.new_code_cell(body)
    if spec["tags"]:
        cell.metadata["tags"] = spec["tags"]
    kind = spec["kind"]
    if kind:
        if not spec["id"]:
            raise SystemExit(f"a {kind} cell needs id=...: {body[:60]!r}")
        cell.metadata["nbgrader"] = {
            "grade": kind == "tests", "solution": kind == "solution", "locked": kind != "solution",
            "grade_id": spec["id"], "schema_version": 3, "task": False,
        }
        if kind == "tests":
            cell.metadata["nbgrader"]["points"] = spec["points"] if spec["points"] is not None else 1.0
    return cell


def convert(text: str):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nb.metadata["language_info"] = {"name": "python"}
    spec, lines = None, []
    for line in text.splitlines():
        if line.startswith("# %%"):
            if spec is not None:
                nb.cells.append(make_cell(spec, "\n".join(lines)))
            spec, lines = parse_header(line), []
        elif spec is not None:
            lines.append(line)
    if spec is not None:
        nb.cells.append(make_cell(spec, "\n".join(lines)))
    for i, cell in enumerate(nb.cells):  # stable ids: diffs of regenerated notebooks stay small
        cell["id"] = cell.metadata.get("nbgrader", {}).get("grade_id") or f"cell-{i:03d}"
    return nb


if __name__ == "__main__":
    src, dst = sys.argv[1:3]
    nb = convert(open(src, encoding="utf-8").read())
    nbformat.validate(nb)
    nbformat.write(nb, dst)
    print(f"wrote {dst}: {len(nb.cells)} cells")
