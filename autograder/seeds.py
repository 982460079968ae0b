"""The seed for hidden tests: chosen at grading time, written into the feedback.

Hidden checks draw fresh random inputs so that a student cannot hard-code answers. The grader
picks one seed per batch and sets ``AUTOGRADER_SEED`` in the grading process, where the test
cells run (the kernels never get it); the checks print it, so the feedback page says which seed
was used and a TA can replay the exact inputs with ``autograder grade ... --seed N``. Outside
grading (a student running the notebook), a seed is drawn from the OS.
"""
from __future__ import annotations

import hashlib
import os
import secrets

import numpy as np

SEED_ENV = "AUTOGRADER_SEED"
_announced: set[int] = set()


def grading_seed() -> int:
    """``AUTOGRADER_SEED`` when set (and an integer), else a fresh random seed for this process."""
    raw = os.environ.get(SEED_ENV, "").strip()
    if raw:
        try:
            return int(raw)
        except ValueError:
            raise ValueError(f"{SEED_ENV}={raw!r} is not an integer") from None
    seed = secrets.randbelow(2**31)
    os.environ[SEED_ENV] = str(seed)  # one seed for the whole session, so output is consistent
    return seed


def forget_announcement() -> None:
    """Print the seed again on the next hidden check: a grading process runs many notebooks,
    and each one's feedback must say which seed it was graded with."""
    _announced.clear()


def hidden_rng(label: str) -> np.random.Generator:
    """A generator for one hidden check, derived from the grading seed and the check's label.

    Different checks get independent streams, and each stream is reproducible from the seed.
    The seed is printed once per process so that it lands in the notebook's output (feedback).
    """
    seed = grading_seed()
    if seed not in _announced:
        print(f"hidden tests: random inputs from seed {seed} (replay: {SEED_ENV}={seed})")
        _announced.add(seed)
    # The whole label counts: labels sharing a long prefix (pairwise_distances_loop / _torch)
    # must still get independent streams.
    label_key = int.from_bytes(hashlib.blake2b(label.encode(), digest_size=8).digest(), "little")
    return np.random.default_rng([seed, label_key])
