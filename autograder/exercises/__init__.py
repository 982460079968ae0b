"""The checks that each assignment's test cells call: one module per assignment.

Each assignment's checks are written once, in its grading module ``source/<a>/grading.py``
(instructor-only). ``autograder release`` generates from it the public module
``autograder/exercises/<notebook>.py`` that students install, in which every function that computes
an answer only looks up the values published for the public inputs (see
:mod:`autograder.answers`). A process that grades imports the grading module under the same name
(:mod:`autograder.grading_side`); the student's kernel only ever has the public one.

A test cell in ``source/<a>/<notebook>.ipynb`` looks like::

    from autograder.exercises import vectorization as grader
    grader.check_matvec_torch(matvec_torch)
    ### BEGIN HIDDEN TESTS
    grader.check_matvec_torch(matvec_torch, hidden=True)
    ### END HIDDEN TESTS

A check prints one line per thing it verified and raises ``CheckFailed`` with an explanation
otherwise. Public checks use small fixed inputs (built from ``linspace``); hidden checks draw
random inputs from the grading seed (see :mod:`autograder.seeds`).
"""
from __future__ import annotations

import contextlib
import re
from typing import Any, Callable, Iterator

import numpy as np

from .. import notebook_display
from ..answers import GradingOnly, NotPublished, is_published_stub, recording, unrecorded
from ..checks import CheckFailed, check_close, describe_shape, to_numpy
from ..gradcheck import check_gradient
from ..grading.remote import is_remote
from ..namespaces import code_names, names_swapped_in  # noqa: F401 - names_swapped_in: for the checks
from ..tracebacks import crash_message

notebook_display.install()


def where_graded(draw: Callable[[], Any], default: Any = None) -> Any:
    """``draw()`` (a ``@grading_only`` function: inputs drawn from the grading seed) where grading
    happens, ``default`` in the student kit: a check whose cell has no hidden part still meets
    fresh inputs in grading, so no published value can stand in for the student's function."""
    try:
        return draw()
    except GradingOnly:
        return default


def passed(message: str) -> None:
    """Print a pass line; it becomes part of the feedback."""
    print(f"✓ {message}")


def call_student(name: str, fn: Callable, *args: Any, **kwargs: Any) -> Any:
    """Call a student's function; turn a crash into a ``CheckFailed`` that names the call with its
    shapes and the student's line (see :mod:`autograder.tracebacks`).

    ``NotImplementedError`` (the untouched stub) gets its own message.
    """
    _require_callable(name, fn)
    try:
        return fn(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - any crash is the student's to see
        raise_crash(name, fn, args, kwargs, exc)


def call_student_each(name: str, fn: Callable, calls: list[tuple[tuple, dict]]) -> Iterator[Any]:
    """``call_student(name, fn, *args, **kwargs)`` for each ``(args, kwargs)`` of ``calls``, in order.

    For a function in the student's kernel all the calls go in one request, and the results come
    back together; each is still the check's to judge, and a crash is raised when the check reaches
    that call, as with one call at a time. For calls whose inputs do not depend on earlier results.
    """
    if not is_remote(fn):
        for args, kwargs in calls:
            yield call_student(name, fn, *args, **kwargs)
        return
    _require_callable(name, fn)
    results, failure = fn._session.call_each(fn, list(calls))
    yield from results
    if failure is not None:
        args, kwargs = calls[len(results)]
        raise_crash(name, fn, args, kwargs, failure)


def _require_callable(name: str, fn: Any) -> None:
    if not callable(fn):
        raise CheckFailed(f"{name}: expected a function, got a {type(fn).__name__}. Did you overwrite its name?")


def raise_crash(name: str, fn: Callable, args: tuple, kwargs: dict, exc: BaseException):
    """Raise the ``CheckFailed`` for ``fn(*args, **kwargs)`` having raised ``exc`` (for a crash that
    a run in the kernel recorded with ``tracebacks.exception_record``: ``exception_from(record)``)."""
    if isinstance(exc, NotImplementedError):
        raise CheckFailed(f"{name}: not implemented yet (it raised NotImplementedError).") from None
    if isinstance(exc, CheckFailed):
        raise exc
    raise CheckFailed(crash_message(name, fn, args, kwargs, exc)) from exc


def global_names_used(fn: Callable) -> set[str]:
    """The global names a function (and functions nested in it) refers to; for a class in the
    student's kernel, those of all its functions."""
    if is_remote(fn):
        return fn._session.names(fn)
    return code_names(fn)


def linspace_grid(*shape: int, lo: float = -1.0, hi: float = 1.0) -> np.ndarray:
    """A fixed, irregular-looking float64 array of ``shape`` built from linspace: public test inputs.

    Deterministic and readable in a failure message, yet with no symmetry that a wrong answer
    (a transpose, a sign) could hide behind.
    """
    n = int(np.prod(shape))
    base = np.linspace(lo, hi, n)
    return (base * np.cos(np.arange(n) * 1.3)).reshape(shape)


@contextlib.contextmanager
def functions_swapped_in(fn: Callable, parts: dict[str, Callable]):
    """Run the block with ``parts`` (the kit's reference functions) in ``fn``'s global namespace.

    ``fn`` is a student's function, so its globals are the notebook's namespace: a student's
    ``train`` then calls the kit's ``backprop``, and one mistake costs only its own part. The
    student's functions are put back afterwards, even when the block raises. For a function in
    the student's kernel (grading), the swap happens there, around each call the block makes, and
    each part the kernel calls runs here, in the grading process.

    In the student kit the parts are only published values, so nothing is swapped: the student's
    own parts run, and a mistake in one of them shows up in this check too (:func:`own_parts_note`).
    """
    if any(is_published_stub(part) for part in parts.values()):
        yield
        return
    if is_remote(fn):
        with fn._session.swapped(parts):
            yield
        return
    namespace = getattr(fn, "__globals__", None)
    if not isinstance(namespace, dict):
        yield
        return
    # The student's code calls them: what it asks is no public check's answer, so it is not recorded.
    with names_swapped_in(namespace, {name: unrecorded(part) for name, part in parts.items()}):
        yield


def unpack_results(name: str, result: Any, names: tuple[str, ...]) -> tuple:
    """``result`` must be a tuple (or list) of ``len(names)`` items; return it as a tuple."""
    if not isinstance(result, (tuple, list)) or len(result) != len(names):
        if isinstance(result, (tuple, list)):
            got = f"a {type(result).__name__} of {len(result)} items"
        else:
            shape = f" of shape {describe_shape(result)}" if hasattr(result, "shape") else ""
            got = f"a {type(result).__name__}{shape}"
        raise CheckFailed(f"{name}: expected a tuple of {len(names)} items ({', '.join(names)}), got {got}. "
                          f"End the function with: return {', '.join(names)}")
    return tuple(result)


_BAR = re.compile(r" \(bar: ([^()]*)\)$")  # as check_close states it, at the end of a line


def check_all(label: str, checks: list[tuple[str, Callable[[], None]]], footer: str = "") -> None:
    """Run every ``(name, check)`` pair; raise one CheckFailed that lists all the failures.

    Each check names only its part (``dW1: ...``); ``label`` (the call) heads the message, and the
    parts that were right are named too, so a student sees at once which gradient is off. A hint
    that several parts share is said once, after them, with the parts it is about; ``footer``
    (the bar, say) closes the message.
    """
    failures, right = [], []
    for name, check in checks:
        try:
            check()
        except CheckFailed as exc:
            failures.append((name, str(exc).splitlines()))
        else:
            right.append(name)
    if not failures:
        return
    hinted: dict[str, list[str]] = {}
    for name, lines in failures:
        for line in lines:
            if line.strip().startswith("hint:"):
                hinted.setdefault(line.strip(), []).append(name)
    shared = {hint for hint, names in hinted.items() if len(names) > 1}
    bars = {m.group(1) for _, lines in failures for line in lines for m in [_BAR.search(line)] if m}
    one_bar = len(failures) > 1 and len(bars) == 1
    body = ["  " + (_BAR.sub("", line) if one_bar else line)
            for _, lines in failures for line in lines if line.strip() not in shared]
    for hint in (h for h in hinted if h in shared):
        parts = ", ".join(hinted[hint])
        body.append("  " + hint.replace("hint:", f"hint ({parts}):", 1))
    if one_bar and not footer:
        footer = f"(bar: {bars.pop()})"
    if footer:
        body.append(f"  {footer}")
    ok = f" ({', '.join(right)} {'is' if len(right) == 1 else 'are'} right)" if right else ""
    raise CheckFailed(f"{label}: {len(failures)} of {len(checks)} results are wrong{ok}.\n" + "\n".join(body))


def close_or_explain(name: str, got: Any, expected: Any, make_mistakes: Callable[[], dict], **kwargs) -> None:
    """``check_close``, computing the known-mistake candidates only when the values differ (and
    always while release records them, so that the student kit has them)."""
    if recording():
        make_mistakes()
    try:
        check_close(name, got, expected, **kwargs)
    except CheckFailed:
        try:
            mistakes = make_mistakes()
        except NotPublished:  # a student kit without the values this mistake would have given
            mistakes = {}
        check_close(name, got, expected, mistakes=mistakes, **kwargs)
        raise


@contextlib.contextmanager
def noting_own_parts(fn: Callable, parts: dict[str, Callable]):
    """Run the block; a failure it raises ends with :func:`own_parts_note`."""
    try:
        yield
    except CheckFailed as exc:
        note = own_parts_note(fn, parts)
        if not note:
            raise
        raise CheckFailed(f"{exc}{note}") from None


def own_parts_note(fn: Callable, parts: dict[str, Callable]) -> str:
    """What a pass or failure line adds when ``fn`` ran with the student's own parts (their notebook)
    rather than the kit's (grading): a mistake in one of those parts shows up here too."""
    if not any(is_published_stub(part) for part in parts.values()):
        return ""
    used = sorted(name for name in parts if name in global_names_used(fn))
    return (f" (in your notebook this ran with your own {', '.join(used)}: a mistake there shows up here too; "
            "grading runs it with correct ones)") if used else ""


def scope_word(hidden: bool) -> str:
    """``"hidden"`` or ``"public"``: which inputs a pass line speaks of."""
    return "hidden" if hidden else "public"


def losses_per_epoch(label: str, losses: Any, epochs: int, hint: str = "") -> np.ndarray:
    """A training function's losses as a float64 array of ``epochs`` numbers, or CheckFailed."""
    try:
        arr = to_numpy(losses).astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise CheckFailed(f"{label} -> losses: expected {epochs} numbers (a list or an array), got {exc}.") from None
    if arr.size != epochs:
        raise CheckFailed(f"{label} -> losses: expected one loss per epoch ({epochs}), got {arr.size}."
                          + (f" {hint}" if hint else ""))
    return arr.reshape(epochs)


def check_seeded_init(init_params, sizes: list[tuple[int, int, int, int]], names: tuple[str, ...],
                      check_params: Callable[[str, tuple, int, int, int], None]) -> None:
    """Call ``init_params(n_in, n_hidden, n_out, seed)`` for each size; the arrays must pass
    ``check_params(label, params, n_in, n_hidden, n_out)``, the same seed must give the same
    arrays, and ``seed + 1`` a different first weight matrix."""
    for d, h, k, seed in sizes:
        label = f"init_params(n_in={d}, n_hidden={h}, n_out={k}, seed={seed})"

        def draw(s: int) -> tuple:
            return unpack_results(label, call_student("init_params", init_params, n_in=d, n_hidden=h, n_out=k, seed=s),
                                  names)

        first = draw(seed)
        check_params(label, first, d, h, k)
        for name, a, b in zip(names, first, draw(seed)):
            if np.shape(a) != np.shape(b) or not np.array_equal(a, b):
                raise CheckFailed(f"{label}: called twice with the same seed, it returned different {name}. "
                                  "Hint: draw from a generator made from the seed, rng = np.random.default_rng(seed), "
                                  "not from the global np.random state.")
        other = draw(seed + 1)
        if np.shape(other[0]) == first[0].shape and np.array_equal(other[0], first[0]):
            raise CheckFailed(f"{label} and seed={seed + 1} returned the same {names[0]}: the seed is ignored. "
                              "Hint: rng = np.random.default_rng(seed).")


def check_gradients(label: str, got: tuple, reference: list, names: tuple[str, ...], *, oracle: str,
                    max_rel_error: float, batch_size: int, mistakes: list) -> dict[str, float]:
    """``check_gradient`` for every gradient of a backward pass, all failures in one message;
    returns ``{name: relative error}``."""
    errors: dict[str, float] = {}

    def one(i: int, name: str) -> None:
        errors[name] = check_gradient(name, got[i], reference[i], max_rel_error=max_rel_error, oracle=oracle,
                                      batch_size=batch_size, mistakes=mistakes[i], state_bar=False)

    check_all(label, [(name, lambda i=i, name=name: one(i, name)) for i, name in enumerate(names)],
              footer=f"(reference: {oracle}; bar: relative error below {max_rel_error:g})")
    return errors
