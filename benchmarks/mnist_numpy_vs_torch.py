#!/usr/bin/env python3
"""Assignment 02's NumPy network against the same network in PyTorch, on the CPU.

Trains the 784-512-10 tanh network for one epoch of mini-batch SGD (batch 64, lr 0.1) on the full
Fashion-MNIST training set (60,000 images, ``autograder.data.load_fashion_mnist``), twice:

* **numpy**: the reference solution itself, ``train_minibatch`` and the functions it calls,
  executed from the answer cells of ``source/02_mnist_numpy/mnist_numpy.ipynb``;
* **torch**: ``nn.Sequential(Linear, Tanh, Linear)``, ``F.cross_entropy``, ``optim.SGD``.

Both start from the same initial weights (``init_params(seed=0)``), visit the same batches (the
permutation ``np.random.default_rng(0)`` draws, as the notebook's loop does) and compute in
float32; the script checks that they end at the same weights. They use the same number of threads:
``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS`` and ``MKL_NUM_THREADS`` are set before NumPy and
torch are imported, ``threadpoolctl`` caps NumPy's BLAS, and ``torch.set_num_threads``; the
script prints what each library reports. Epochs are timed interleaved (numpy, torch, numpy,
torch, ...) after a warm-up, and the medians and their ratio are printed.

Usage::

    .venv/bin/python benchmarks/mnist_numpy_vs_torch.py [--threads 1] [--repeats 3] [--dtype float32]
"""
from __future__ import annotations

import argparse
import os
import sys


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="BLAS / torch threads for both (default 1)")
    parser.add_argument("--repeats", type=int, default=3, help="timed epochs per implementation (default 3)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--limit", type=int, default=0, help="train on the first N images only (0: all)")
    return parser.parse_args(argv)


ARGS = parse_args()
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = str(ARGS.threads)  # before numpy and torch start their thread pools

import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from autograder.data import load_fashion_mnist  # noqa: E402
from autograder.notebooks import nbgrader_meta, read_notebook, strip_solution_markers  # noqa: E402

SOURCE = ROOT / "source" / "02_mnist_numpy" / "mnist_numpy.ipynb"


def reference_solution() -> dict:
    """The answer cells of the source notebook, executed: the reference NumPy solution."""
    code = "\n\n".join(strip_solution_markers(c.source) for c in read_notebook(SOURCE).cells
                       if nbgrader_meta(c).get("solution"))
    ns = {"np": np, "__name__": "mnist_numpy_reference"}
    exec(compile(code, str(SOURCE), "exec"), ns)
    return ns


def train_torch(X, y, params, *, epochs: int, batch_size: int, lr: float, seed: int):
    """The same loop in PyTorch: same batches (NumPy's permutation), nn.Linear + Tanh, SGD."""
    W1, b1, W2, b2 = params
    net = torch.nn.Sequential(torch.nn.Linear(W1.shape[1], W1.shape[0]), torch.nn.Tanh(),
                              torch.nn.Linear(W2.shape[1], W2.shape[0])).to(X.dtype)
    with torch.no_grad():
        for p, value in zip((net[0].weight, net[0].bias, net[2].weight, net[2].bias), params):
            p.copy_(torch.from_numpy(np.ascontiguousarray(value)))
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    n = X.shape[0]
    losses = []
    for _ in range(epochs):
        order = torch.from_numpy(rng.permutation(n))
        batch_losses = []
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(net(X[idx]), y[idx])
            loss.backward()
            opt.step()
            batch_losses.append(loss.detach())
        losses.append(float(torch.stack(batch_losses).mean()))
    trained = tuple(p.detach().numpy().copy() for p in (net[0].weight, net[0].bias, net[2].weight, net[2].bias))
    return trained, np.array(losses)


def blas_report() -> str:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "threadpoolctl not installed"
    pools = [f"{p.get('internal_api')} {p.get('version')} ({p.get('user_api')}): {p.get('num_threads')} threads"
             for p in threadpool_info()]
    return "; ".join(pools) or "no thread pools found"


def main() -> int:
    limits = None
    try:
        from threadpoolctl import threadpool_limits
        limits = threadpool_limits(limits=ARGS.threads)
    except ImportError:
        pass
    torch.set_num_threads(ARGS.threads)
    dtype = np.dtype(ARGS.dtype)

    X_train, y_train, X_test, y_test = load_fashion_mnist()
    if ARGS.limit:
        X_train, y_train = X_train[:ARGS.limit], y_train[:ARGS.limit]
    X_np = np.ascontiguousarray(X_train, dtype=dtype)
    X_t, y_t = torch.from_numpy(X_np), torch.from_numpy(y_train)
    ref = reference_solution()
    params0 = tuple(np.ascontiguousarray(p, dtype=dtype) for p in ref["init_params"](seed=0))
    kw = dict(epochs=1, batch_size=ARGS.batch_size, lr=ARGS.lr, seed=0)

    def run_numpy():
        return ref["train_minibatch"](X_np, y_train, params0, **kw)

    def run_torch():
        return train_torch(X_t, y_t, params0, **kw)

    n_batches = -(-len(X_np) // ARGS.batch_size)
    print(f"Fashion-MNIST: {len(X_np):,} training images; network 784-{params0[0].shape[0]}-10 tanh, {ARGS.dtype}; "
          f"one epoch = {n_batches:,} batches of {ARGS.batch_size}, lr {ARGS.lr:g}")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"python {platform.python_version()}, numpy {np.__version__}, torch {torch.__version__}")
    print(f"threads: numpy BLAS: {blas_report()}; torch.get_num_threads() = {torch.get_num_threads()}")

    # Same result first: both train from the same weights over the same batches.
    (np_params, np_losses), (t_params, t_losses) = run_numpy(), run_torch()
    worst = max(float(np.max(np.abs(a - b)) / np.max(np.abs(b))) for a, b in zip(np_params, t_params))
    acc = {name: float(np.mean(ref["predict"](X_test.astype(dtype), p) == y_test))
           for name, p in (("numpy", np_params), ("torch", t_params))}
    print(f"same training: epoch loss numpy {np_losses[0]:.5f}, torch {t_losses[0]:.5f}; final weights differ by "
          f"at most {worst:.1e} (relative to each parameter's largest entry); test accuracy numpy {acc['numpy']:.4f}, "
          f"torch {acc['torch']:.4f}")
    if worst > (1e-3 if dtype == np.float32 else 1e-8):
        print("✗ the two implementations do not train the same network", file=sys.stderr)
        return 1

    # That first pair was the warm-up. Now interleaved, timed epochs.
    times = {"numpy": [], "torch": []}
    for _ in range(ARGS.repeats):
        for name, fn in (("numpy", run_numpy), ("torch", run_torch)):
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    med = {k: statistics.median(v) for k, v in times.items()}
    for name in ("numpy", "torch"):
        runs = ", ".join(f"{t:.2f}" for t in times[name])
        per_batch = med[name] / n_batches * 1e3
        print(f"{name:6s} one epoch: median {med[name]:.2f} s  (runs: {runs} s; {per_batch:.2f} ms per batch)")
    ratio = med["numpy"] / med["torch"]
    print(f"ratio numpy / torch: {ratio:.2f}x ({'within' if ratio <= 1.5 else 'above'} the 1.5x goal)")
    if limits is not None:
        limits.restore_original_limits()
    return 0


if __name__ == "__main__":
    sys.exit(main())
