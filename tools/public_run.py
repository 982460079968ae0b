"""Run a notebook's code cells here with the public checks a student has (no grading modules).

    .venv/bin/python tools/public_run.py NOTEBOOK FOLDER

FOLDER is where the notebook runs (its data files). Prints PASS/FAIL per graded test cell, with
the first 400 characters of its output or failure.
"""
import sys, builtins, io, contextlib, os, traceback
from pathlib import Path
import nbformat
from autograder.notebooks import is_test_cell, nbgrader_meta
nb = nbformat.read(sys.argv[1], as_version=4)
os.chdir(Path(sys.argv[2]))
ns={"__name__":"__main__","__builtins__":builtins}
for c in nb.cells:
    if c.cell_type!='code': continue
    out=io.StringIO()
    err=None
    with contextlib.redirect_stdout(out):
        try: exec(compile(c.source,'<cell>','exec'), ns)
        except Exception as e: err=f"{type(e).__name__}: {e}"
    if is_test_cell(c) and nbgrader_meta(c).get('points'):
        print(("PASS " if err is None else "FAIL ")+nbgrader_meta(c)['grade_id'], (err or out.getvalue().strip())[:400].replace("\n"," | "))
