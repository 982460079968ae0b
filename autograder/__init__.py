"""Deep-learning course kit: checks, gradient and timing oracles, and the grading pipeline.

Modules (each with one job):
    checks          compare a result with an expectation and explain the difference
    gradcheck       numerical (centred differences) and PyTorch-autograd gradients
    timing          time implementations side by side and judge speedups
    seeds           the hidden-test seed chosen at grading time
    torch_trace     count torch calls and the largest tensor a function builds
    exercises/<a>   the checks one assignment's test cells call
    grading/        batch grading on top of nbgrader
    cli             `autograder release | validate | grade | check | demo`
"""
import sys as _sys

__version__ = "0.1.0"

# jsonschema, which nbformat imports, imports rfc3987_syntax where it is installed, and that
# compiles about 35 Earley grammars at import: 1.3 s of CPU at the start of every process that
# reads a notebook (each grading worker of each batch, each command), measured with
# `python -X importtime`. Nothing the kit or Jupyter validates is an IRI; without the module,
# jsonschema leaves the "iri" formats unchecked.
_sys.modules.setdefault("rfc3987_syntax", None)
