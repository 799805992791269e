"""Mutation fuzzing of what a user opens: project files, data files, inputs to predict, bundles, run folders.

    python fuzz/run_fuzz.py --cases 5000                    # `make fuzz`: the long run (about 10 minutes here)
    python fuzz/run_fuzz.py --seed 7 --case 1234            # replay one case: its input, what ran, what failed
    python fuzz/run_fuzz.py --cases 300 --kinds bundle,run  # only these kinds of input

Every case is a seed input (seeds.py) with one to three mutations (mutate.py), given to the core functions
the window uses and to `layerloom summary/train/export/predict` (cases.py); the oracle is in worker.py.
Cases run in worker processes capped at --memory-mb above their start (RLIMIT_AS) and --timeout seconds each.
A failure's reproducer is its seed and index (`--seed S --case I`). Exit status 1 when a case failed in a way
fuzz/known.py does not list (those are being fixed elsewhere: they are reported, marked KNOWN).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from cases import KINDS
from harness import run_session
from known import known


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", type=int, default=5000, help="how many cases (default 5000)")
    p.add_argument("--seed", type=int, default=1, help="the session's seed: the same seed makes the same cases")
    p.add_argument("--start", type=int, default=0, help="the first case's index")
    p.add_argument("--case", type=int, help="replay this one case (in the foreground, its folder kept)")
    p.add_argument("--kinds", default="", help=f"only these kinds, comma-separated: {', '.join(KINDS)}")
    p.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    p.add_argument("--memory-mb", type=int, default=1024, help="what a worker may allocate beyond its start")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds a case may take (default 10)")
    p.add_argument("--work", help="the working folder (default: a temporary one)")
    p.add_argument("--report", help="write the report as JSON here")
    return p.parse_args(argv)


def replay(args, seeds_file: str, work: str) -> int:
    """One case in this process, its folder kept: what was made, what ran, what failed."""
    from harness import worker_env
    from worker import prepare, run_case

    os.environ.update(worker_env(work))
    prepare(args.memory_mb)
    with open(seeds_file, encoding="utf-8") as f:
        seeds = json.load(f)
    kinds = tuple(args.kinds.split(",")) if args.kinds else None
    result = run_case(seeds, work, args.seed, args.case, args.timeout, kinds, keep=True)
    print(result.get("describe", ""))
    for line in result.get("outcomes", []):
        print("  " + line)
    print("folder:", os.path.join(work, f"case-{args.case}"))
    for f in result["failures"]:
        print(f"FAILED {f['kind']} {f['action']} {f['where']}: {f['detail']}")
    return 1 if result["failures"] else 0


def main(argv=None) -> int:
    args = parse_args(argv)
    work = args.work or tempfile.mkdtemp(prefix="layerloom-fuzz-")
    from seeds import build_seeds

    build_seeds(os.path.join(work, "seeds"))
    seeds_file = os.path.join(work, "seeds", "seeds.json")
    if args.case is not None:
        return replay(args, seeds_file, work)
    kinds = tuple(args.kinds.split(",")) if args.kinds else None
    started, last = time.monotonic(), [0.0]

    def progress(done, total, report):
        if time.monotonic() - last[0] > 10 or done == total:
            last[0] = time.monotonic()
            print(f"  {done}/{total} cases, {len(report.failures)} failures, {last[0] - started:.0f} s",
                  file=sys.stderr, flush=True)

    report = run_session(seeds_file, os.path.join(work, "cases"), session_seed=args.seed,
                         indices=range(args.start, args.start + args.cases), workers=args.workers,
                         memory_mb=args.memory_mb, timeout=args.timeout, kinds=kinds, progress=progress)
    print(f"{report.cases} cases in {report.seconds:.0f} s (seed {args.seed}, {args.workers} workers, "
          f"{args.memory_mb} MB and {args.timeout:g} s a case)")
    print("cases by kind: " + ", ".join(f"{k} {n}" for k, n in sorted(report.by_kind.items())))
    print("inputs accepted (the mutation left them usable) / actions run: " + ", ".join(
        f"{a} {report.accepted[a]}/{n}" for a, n in sorted(report.actions.items())))
    print("failures by kind: " + (", ".join(f"{k} {n}" for k, n in sorted(report.failure_counts().items()))
                                  or "none"))
    new = [f for f in report.failures if not known(f)]
    print(f"new failures: {len(new)}; known (fuzz/known.py, being fixed elsewhere): {len(report.failures) - len(new)}")
    for (kind, action, where), group in sorted(report.signatures().items(), key=lambda kv: -len(kv[1])):
        first = group[0]
        tag = f"KNOWN ({known(first)})" if known(first) else "NEW"
        print(f"\n{tag} {kind} × {len(group)}: {action} {where}\n  {first['detail'][:300]}\n"
              f"  e.g. {first['describe'][:200]}\n  reproduce: python fuzz/run_fuzz.py --seed {args.seed} "
              f"--case {first['index']}" + (f" --kinds {args.kinds}" if args.kinds else ""))
    if args.report:
        with open(args.report, "w", encoding="utf-8") as f:
            json.dump(report.to_dict(), f, indent=1)
    return 1 if new else 0


if __name__ == "__main__":
    sys.exit(main())
