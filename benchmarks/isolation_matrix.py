"""The full hostile corpus under every isolation configuration this machine can make (run as root).

    .venv/bin/python benchmarks/isolation_matrix.py [--configs root,nobody,...] [--cases a,b] [--json out.json]

For each configuration of tests/hostile/configurations.py it plants the decoys of
tests/hostile/decoys.py, grades tests/hostile/cases.toml with --jobs 2 in a child process made
that way (``python -m tests.hostile.corpus --json``), removes the decoys, and prints one table
row: the layers in force, how many cases scored exactly as specified, which did not (and whether
the layers in force are supposed to stop them), the honest rows, and the wall time. The rows go
into docs/isolation.md.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.hostile import decoys as planted  # noqa: E402
from tests.hostile.configurations import CONFIGURATIONS, available, wrap  # noqa: E402

DECOY_SOLUTION = ROOT / "examples" / "submissions" / "correct" / "01_xor_backprop" / "xor_backprop.ipynb"


def run_one(name: str, cases: str | None) -> dict:
    with tempfile.TemporaryDirectory(prefix="iso-matrix-", dir="/tmp") as tmp:
        folder = Path(tmp)
        folder.chmod(0o755)
        (folder / "report").mkdir(mode=0o777)
        (folder / "report").chmod(0o777)
        decoys = planted.plant(DECOY_SOLUTION)
        started = time.perf_counter()
        try:
            decoy_file = decoys.write(folder / "decoys.json")
            decoy_file.chmod(0o644)
            command = [sys.executable, "-m", "tests.hostile.corpus", "--json", str(folder / "report" / "r.json"),
                       "--decoys", str(decoy_file), *(["--cases", cases] if cases else [])]
            argv, env = wrap(name, command, folder / "config")
            proc = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True)
        finally:
            planted.remove(decoys)
        if proc.returncode != 0:
            return {"error": (proc.stdout + proc.stderr)[-3000:], "wall_s": time.perf_counter() - started}
        report = json.loads((folder / "report" / "r.json").read_text())
        report["wall_s"] = round(time.perf_counter() - started, 1)
        return report


def row(name: str, report: dict) -> str:
    what = CONFIGURATIONS[name][0]
    if "error" in report:
        return f"| {what} | (the run failed) | | | | |"
    cases = report["cases"]
    ok = [n for n, c in cases.items() if not c["verdict"]]
    beaten = [f"`{n}`" + ("" if c["needed"] else f" (needs {c['needs']})") for n, c in cases.items() if c["verdict"]]
    honest = sum(not v for v in report["honest"].values())
    not_run = ", ".join(f"`{n}`" for n in report["not_run"]) or "-"
    return (f"| {what} | {' + '.join(report['layers'])} | {len(ok)}/{len(cases)} | {', '.join(beaten) or '-'} | "
            f"{not_run} | {honest}/{len(report['honest'])} | {report['wall_s'] / 60:.1f} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", default=",".join(CONFIGURATIONS), help="comma-separated (default: all)")
    parser.add_argument("--cases", help="comma-separated case names (default: all)")
    parser.add_argument("--json", type=Path, help="also write every report here")
    args = parser.parse_args()
    reports = {}
    print("| configuration | layers in force | cases as specified | cases not held | not run (destructive) | "
          "honest rows | minutes |")
    print("|---|---|---|---|---|---|---|")
    for name in args.configs.split(","):
        why_not = available(name)
        if why_not:
            print(f"| {CONFIGURATIONS[name][0]} | not made here: {why_not} | | | | | |", flush=True)
            continue
        reports[name] = run_one(name, args.cases)
        print(row(name, reports[name]), flush=True)
        if args.json:
            args.json.write_text(json.dumps(reports, indent=1), encoding="utf-8")
    for name, report in reports.items():
        for case, c in report.get("cases", {}).items():
            if c["verdict"]:
                print(f"  {name}: {case}: {c['verdict'][:220]}")
        if "error" in report:
            print(f"  {name}: {report['error'][-800:]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
