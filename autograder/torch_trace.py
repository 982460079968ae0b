"""Watch what a torch function does: how many torch operations it calls, and how big the
largest tensor it creates is.

Used by checks that timing alone would judge noisily: "no Python loop" (the number of torch
calls must not grow with the number of rows) and "never builds an (n, p, d) tensor" (no
intermediate with that many elements). Deterministic, so it cannot be fooled by a busy machine.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch.overrides import TorchFunctionMode


@dataclass
class TorchOpRecord:
    calls: int = 0
    largest_numel: int = 0
    largest_shape: tuple = ()
    ops: dict = field(default_factory=dict)


class RecordTorchOps(TorchFunctionMode):
    """Context manager counting torch calls (functions, methods, operators) and output sizes.

    Example::

        with RecordTorchOps() as rec:
            pairwise_distances_torch(X, Y)
        rec.record.calls, rec.record.largest_shape
    """

    def __init__(self):
        super().__init__()
        self.record = TorchOpRecord()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        name = getattr(func, "__name__", str(func))
        # Attribute reads such as .shape or .device are not operations.
        if name not in {"__get__", "size", "dim", "numel", "__len__"}:
            self.record.calls += 1
            self.record.ops[name] = self.record.ops.get(name, 0) + 1
        for t in (out if isinstance(out, (tuple, list)) else (out,)):
            if isinstance(t, torch.Tensor) and t.numel() > self.record.largest_numel:
                self.record.largest_numel = t.numel()
                self.record.largest_shape = tuple(t.shape)
        return out


def record_torch_ops(fn, *args, **kwargs) -> tuple[object, TorchOpRecord]:
    """Call ``fn(*args, **kwargs)`` under :class:`RecordTorchOps`; return ``(result, record)``.

    On a function in the student's kernel (grading), the recording is made there and reported.
    """
    from .grading.remote import is_remote, trace_torch_ops
    if any(is_remote(x) for x in (fn, *args, *kwargs.values())):
        result, facts = trace_torch_ops(fn, args, kwargs)
        return result, TorchOpRecord(calls=int(facts.get("calls", 0)), largest_numel=int(facts.get("largest_numel", 0)),
                                     largest_shape=tuple(facts.get("largest_shape", ())), ops=dict(facts.get("ops", {})))
    with RecordTorchOps() as rec:
        result = fn(*args, **kwargs)
    return result, rec.record
