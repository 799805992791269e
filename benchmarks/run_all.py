"""Run every `bench_*.py` in this folder, one after the other, and print their output and a summary.

    .venv/bin/python benchmarks/run_all.py            # `make bench`
    .venv/bin/python benchmarks/run_all.py --check    # exit 1 when any bar is missed
    .venv/bin/python benchmarks/run_all.py --quick    # fewer repeats: a smoke run, noisier figures
    .venv/bin/python benchmarks/run_all.py inference  # only scripts whose name contains "inference"

New benchmarks join automatically: name them `bench_<topic>.py`, make them print a table with the
figure, the bar and PASS/MISS (see common.py) and exit 0 (1 on a miss under --check). Scripts run
one at a time in their own process with this interpreter, so they do not compete for the CPU.
"""

from __future__ import annotations

import argparse
import glob
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def main() -> int:
    parser = argparse.ArgumentParser(description="Run all Layerloom benchmarks.")
    parser.add_argument("--check", action="store_true", help="exit with status 1 when a bar is missed")
    parser.add_argument("--quick", action="store_true", help="pass --quick to every benchmark")
    parser.add_argument("only", nargs="*", help="run only scripts whose file name contains one of these")
    args = parser.parse_args()

    scripts = sorted(glob.glob(os.path.join(HERE, "bench_*.py")))
    if args.only:
        scripts = [s for s in scripts if any(word in os.path.basename(s) for word in args.only)]
    if not scripts:
        print("no benchmark scripts found", file=sys.stderr)
        return 1
    extra = [flag for flag, on in (("--check", args.check), ("--quick", args.quick)) if on]
    env = dict(os.environ, PYTHONUNBUFFERED="1")

    summary: list[tuple[str, float, int, list[str]]] = []
    start = time.perf_counter()
    for path in scripts:
        name = os.path.basename(path)
        print(f"\n##### {name} {' '.join(extra)}".rstrip())
        sys.stdout.flush()
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, path, *extra], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, env=env, cwd=os.path.dirname(HERE))
        missed: list[str] = []
        assert proc.stdout is not None
        for line in proc.stdout:
            print(line, end="")
            sys.stdout.flush()
            if "; MISSED: " in line:
                missed.append(line.split("; MISSED: ", 1)[1].strip())
        rc = proc.wait()
        summary.append((name, time.perf_counter() - t0, rc, missed))

    print("\n##### summary")
    width = max(len(name) for name, *_ in summary)
    failed = False
    for name, seconds, rc, missed in summary:
        if rc not in (0, 1) or (rc == 1 and not args.check):
            verdict = f"ERROR (exit {rc})"
            failed = True
        elif missed:
            verdict = "MISS: " + "; ".join(missed)
            failed = failed or args.check
        else:
            verdict = "all bars met"
        print(f"{name.ljust(width)}  {seconds:6.1f} s  {verdict}")
    print(f"total {time.perf_counter() - start:.1f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
