"""Every notebook's markdown as Jupyter renders it: headings that are headings, lists and tables
that render, balanced math, and a figure under every plotting cell of the posted solutions.

The renderer is nbconvert's (mistune), the Python side of Jupyter's markdown; JupyterLab's own
(marked) is exercised by the browser test. Each check is a function of one cell or notebook that
returns what is wrong, so the unit tests below can feed it the defects one by one.
"""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from bs4 import BeautifulSoup
from nbconvert.filters.markdown_mistune import markdown2html_mistune

from .conftest import ROOT

NOTEBOOKS = sorted(p for folder in ("source", "assignments", "solutions")
                   for p in (ROOT / folder).glob("*/*.ipynb"))
LONGEST_HEADING = 100  # characters: a heading longer than this is a paragraph that lost its way
BULLET = re.compile(r"^\s*[*+-]\s+\S")
NUMBERED = re.compile(r"^\s*\d+[.)]\s+\S")  # also a numbered section heading, "## 1. Dot product"
TABLE_ROW = re.compile(r"^\s*\|.*\|\s*$")
PLOTS = re.compile(r"\bplt\.(?:show|subplots|figure|plot|imshow)\(|\bfig\.show\(")


def rendered(markdown: str) -> BeautifulSoup:
    """The cell's HTML without the heading anchors (the ¶ nbconvert appends to each heading)."""
    soup = BeautifulSoup(markdown2html_mistune(markdown), "html.parser")
    for anchor in soup.select("a.anchor-link"):
        anchor.decompose()
    return soup


def heading_problems(markdown: str) -> list[str]:
    """A heading that is a paragraph: too long, or ending as a sentence or a clause does."""
    problems = []
    for h in rendered(markdown).find_all(re.compile(r"^h[1-6]$")):
        text = " ".join(h.get_text().split())
        if len(text) > LONGEST_HEADING or text.endswith((".", ",", ";")):
            problems.append(f"a paragraph rendered as a heading <{h.name}>: {text[:60]!r}")
    return problems


def unrendered_lists_and_tables(markdown: str) -> list[str]:
    """A paragraph or heading line that still reads as a list item or a table row: it did not render."""
    soup = rendered(markdown)
    for code in soup.find_all(["pre", "code"]):
        code.decompose()
    problems = []
    for block in soup.find_all(["p", re.compile(r"^h[1-6]$")]):
        patterns = (BULLET, TABLE_ROW) if block.name != "p" else (BULLET, NUMBERED, TABLE_ROW)
        problems += [f"a list item or table row that did not render: {line.strip()[:60]!r}"
                     for line in block.get_text().splitlines() if any(p.match(line) for p in patterns)]
    return problems


def unbalanced_math(markdown: str) -> list[str]:
    """``$$`` and ``$`` delimiters that do not pair up (code and escaped dollars aside)."""
    text = re.sub(r"```.*?```", "", markdown, flags=re.S)
    text = re.sub(r"`[^`\n]*`", "", text).replace(r"\$", "")
    problems = []
    if text.count("$$") % 2:
        problems.append("an odd number of $$ delimiters")
    if text.replace("$$", "").count("$") % 2:
        problems.append("an odd number of $ delimiters")
    return problems


def cell_problems(cell) -> list[str]:
    if cell.cell_type != "markdown":
        return []
    return (heading_problems(cell.source) + unrendered_lists_and_tables(cell.source)
            + unbalanced_math(cell.source))


def figures_missing(nb) -> list[str]:
    """Plotting cells of an executed notebook that show no image."""
    return [f"cell {cell.get('id', i)}: plots but shows no image"
            for i, cell in enumerate(nb.cells)
            if cell.cell_type == "code" and PLOTS.search(cell.source)
            and not any("image/png" in out.get("data", {}) for out in cell.get("outputs", []))]


def notebook_problems(path: Path) -> list[str]:
    nb = nbformat.read(path, as_version=4)
    problems = [f"cell {cell.get('id', '?')}: {p}" for cell in nb.cells for p in cell_problems(cell)]
    if path.relative_to(ROOT).parts[0] == "solutions":
        problems += figures_missing(nb)
    return problems


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[str(p.relative_to(ROOT)) for p in NOTEBOOKS])
def test_every_notebook_renders(path):
    problems = notebook_problems(path)
    assert not problems, f"{path.relative_to(ROOT)}:\n" + "\n".join(problems[:15]) + (
        f"\n... and {len(problems) - 15} more" if len(problems) > 15 else "")


# --------------------------------------------------------------------------- each defect, alone

COMMENTED_DRAFT = "# ## 1. The sigmoid\n#\n# `sigmoid(z)` works elementwise on an array of any shape, and it must be numerically stable."


def test_a_paragraph_with_its_comment_prefix_is_a_heading():
    assert heading_problems(COMMENTED_DRAFT)
    assert not heading_problems(COMMENTED_DRAFT.replace("# ", "").replace("\n#\n", "\n\n"))


def test_a_short_line_with_its_comment_prefix_is_a_heading_too():
    assert heading_problems("# and train it twice, with full-batch gradient descent,")
    assert not heading_problems("# Part C: how fast is it?")


def test_a_list_or_table_that_did_not_render_is_flagged():
    assert unrendered_lists_and_tables("# * 3 inputs\n# * 4 hidden units")
    assert unrendered_lists_and_tables("# | a | b |\n# |---|---|\n# | 1 | 2 |")
    assert not unrendered_lists_and_tables("* 3 inputs\n* 4 hidden units\n\n| a | b |\n|---|---|\n| 1 | 2 |")
    assert not unrendered_lists_and_tables("```\n* not a list, code\n```")


def test_unbalanced_math_is_flagged():
    assert unbalanced_math("$$x = 1")
    assert unbalanced_math("the cost is $x, not y")
    assert not unbalanced_math(r"$$x$$ and $y$, a price of \$5 and `$PATH`")


def test_a_plotting_cell_without_its_image_is_flagged():
    cell = nbformat.v4.new_code_cell("plt.show()")
    nb = nbformat.v4.new_notebook(cells=[cell])
    assert figures_missing(nb)
    cell.outputs = [nbformat.v4.new_output("display_data", data={"image/png": "iVBOR", "text/plain": "<Figure>"})]
    assert not figures_missing(nb)


def test_the_draft_converter_takes_the_comment_prefix_off_markdown():
    import sys
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        from py2nb import convert
    finally:
        sys.path.remove(str(ROOT / "tools"))
    nb = convert("# %% [markdown]\n" + COMMENTED_DRAFT + "\n# ```\n# for e in epochs:\n#     step()\n# ```\n")
    assert nb.cells[0].source.startswith("## 1. The sigmoid\n\n`sigmoid(z)`")
    assert "\n    step()\n" in nb.cells[0].source  # the pseudocode keeps its indentation
    assert not cell_problems(nb.cells[0])
