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
__version__ = "0.1.0"
