"""Training beside a busy CPU: the thread policy (core/training/thread_policy.py) against torch's defaults.

For the conv (lenet5 on digits), LSTM (lstm_text on synthetic_text) and GRU (gru_timeseries on sine)
templates, training samples/s of `Trainer` (run_root=None, about STEPS optimizer steps) on the machine as it
is ("quiet") and beside a CPU hog: one process per core minus one, each spinning in pure Python ("busy").
Two ways, each in fresh processes (OpenMP reads its wait policy once, when torch loads):

  policy   layerloom as shipped: the thread count chosen at run start from the cores other work leaves free
           (OpenMP's waiting as torch has it)
  today    torch's defaults: one thread per core whatever else runs (the policy replaced by torch's own count)

Rounds alternate the two ways; each figure is the median over the rounds. Bars (issue 16, point 1):
  busy / quiet samples/s, policy, every template                ≥ 0.5
  policy quiet / today quiet, every template                    ≥ 0.97
A run that collapses is stopped after CAP_S seconds (its figure is then what it reached).

Run: .venv/bin/python benchmarks/bench_busy_cpu.py [--check] [--quick]

The quiet bar alone, measured long enough to judge 3 %: `--quiet-only` runs QUIET_ROUNDS alternating pairs of
rounds of QUIET_STEPS steps each, nothing beside them, and takes the median of the per-pair ratios (a pair runs
back to back, so the machine's drift over minutes cancels out of each ratio).
"""

from __future__ import annotations

import os

_ENV = dict(os.environ)  # the environment the runs start with

import json  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
TEMPLATES = ("lenet5", "lstm_text", "gru_timeseries")
STEPS = 200
QUIET_STEPS, QUIET_ROUNDS = 1000, 7
CAP_S = 30.0
BUSY_BAR, QUIET_BAR = 0.5, 0.97
HOG = "while True: pass"


def _child(mode: str, steps: int, states: tuple[str, ...] = ("quiet", "busy")) -> None:
    """One round in this process: every template quiet, then beside the hog; prints one JSON line."""
    if mode == "today":
        import torch  # before layerloom: libgomp starts with the environment as the user left it

        default = torch.get_num_threads()
        from layerloom.core.training import thread_policy

        thread_policy.choice_for_run = lambda settings, dist=None: thread_policy.ThreadChoice(
            settings.threads or default, "OpenMP's default", "torch's default")
    from layerloom.core.data import load_data
    from layerloom.core.templates import load_template
    from layerloom.core.training import TrainControl, Trainer

    out = {}
    for name in TEMPLATES:
        project = load_template(name)
        s = project.training
        prepared = load_data(project.data.source, dict(project.data.options), val_fraction=s.val_fraction,
                             seed=s.seed)
        per_epoch = -(-len(prepared.train) // s.batch_size)

        def run(epochs: int, project=project, prepared=prepared, s=s):
            settings = type(s)(**{**s.to_dict(), "epochs": epochs, "device": "cpu", "threads": None})
            control, t0 = TrainControl(), time.perf_counter()

            def sink(event):
                if time.perf_counter() - t0 > CAP_S:
                    control.stop()

            trainer = Trainer(project, prepared, settings=settings, run_root=None)
            result = trainer.run(sink, control)
            return result.samples_per_s, trainer.threads.threads

        run(1)  # warm-up
        epochs = max(1, round(steps / per_epoch))
        row = {}
        for state in states:
            hogs = []
            if state == "busy":
                cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
                hogs = [subprocess.Popen([sys.executable, "-c", HOG]) for _ in range(max(1, cores - 1))]
                time.sleep(0.5)
            try:
                row[state] = run(epochs)
            finally:
                for h in hogs:
                    h.kill()
                    h.wait()
        out[name] = row
    print(json.dumps(out), flush=True)


def _round(mode: str, steps: int, quiet_only: bool = False) -> dict:
    env = dict(_ENV, PYTHONUNBUFFERED="1")
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", mode, "--steps", str(steps)] +
                          (["--quiet-only"] if quiet_only else []),
                          env=env, capture_output=True, text=True, cwd=os.path.dirname(HERE))
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"the {mode} round failed:\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1])


def main() -> int:
    if "--child" in sys.argv:
        i = sys.argv.index("--child")
        steps = int(sys.argv[sys.argv.index("--steps") + 1]) if "--steps" in sys.argv else STEPS
        _child(sys.argv[i + 1], steps, ("quiet",) if "--quiet-only" in sys.argv else ("quiet", "busy"))
        return 0
    if "--quiet-only" in sys.argv:
        return quiet_only("--check" in sys.argv)
    sys.path.insert(0, HERE)
    from common import Results, environment_line, parse_args

    args = parse_args("Training samples/s quiet and beside a CPU hog: the thread policy against torch's defaults.")
    rounds, steps = (1, 60) if args.quick else (3, STEPS)
    print(environment_line())
    print(f"{rounds} rounds per way, about {steps} steps per figure, hog: {max(1, os.cpu_count() - 1)} "
          f"process(es); 1-minute load average at the start {os.getloadavg()[0]:.2f}")
    got: dict[str, list[dict]] = {"policy": [], "today": []}
    for r in range(rounds):
        for mode in (("policy", "today") if r % 2 == 0 else ("today", "policy")):
            got[mode].append(_round(mode, steps))
            print(f"  round {r + 1} {mode}: " + "; ".join(
                f"{t} quiet {v['quiet'][0]:,.0f}/s ({v['quiet'][1]} thr), busy {v['busy'][0]:,.0f}/s "
                f"({v['busy'][1]} thr)" for t, v in got[mode][-1].items()), flush=True)

    def med(mode: str, template: str, state: str) -> float:
        return statistics.median(g[template][state][0] for g in got[mode])

    results = Results("Training beside a busy CPU (samples/s, medians of rounds)")
    for t in TEMPLATES:
        pq, pb, tq, tb = med("policy", t, "quiet"), med("policy", t, "busy"), med("today", t, "quiet"), \
            med("today", t, "busy")
        results.add(f"{t}: busy / quiet, policy", figure=pb / pq, bar=BUSY_BAR, unit="×", lower_is_better=False,
                    extra=f"{pb:,.0f} / {pq:,.0f} samples/s")
        results.add(f"{t}: busy / quiet, today (torch defaults)", figure=tb / tq, bar=None, unit="×",
                    lower_is_better=False,
                    extra=f"{tb:,.0f} / {tq:,.0f} samples/s")
        results.add(f"{t}: policy quiet / today quiet", figure=pq / tq, bar=QUIET_BAR, unit="×",
                    lower_is_better=False)
    results.print_table()
    return results.exit_code(args.check)


def quiet_only(check: bool) -> int:
    """The quiet bar: policy quiet / today quiet, the median of QUIET_ROUNDS back-to-back pairs."""
    sys.path.insert(0, HERE)
    from common import Results, environment_line

    print(environment_line())
    print(f"--quiet-only: {QUIET_ROUNDS} pairs of rounds, about {QUIET_STEPS} steps per figure, nothing beside them; "
          f"1-minute load average at the start {os.getloadavg()[0]:.2f}")
    ratios: dict[str, list[float]] = {t: [] for t in TEMPLATES}
    rates: dict[str, dict[str, list[float]]] = {t: {"policy": [], "today": []} for t in TEMPLATES}
    for r in range(QUIET_ROUNDS):
        pair = {}
        for mode in (("policy", "today") if r % 2 == 0 else ("today", "policy")):
            pair[mode] = _round(mode, QUIET_STEPS, quiet_only=True)
        for t in TEMPLATES:
            p, d = pair["policy"][t]["quiet"][0], pair["today"][t]["quiet"][0]
            rates[t]["policy"].append(p)
            rates[t]["today"].append(d)
            ratios[t].append(p / d)
        print(f"  pair {r + 1}: " + "; ".join(
            f"{t} {pair['policy'][t]['quiet'][0]:,.0f} / {pair['today'][t]['quiet'][0]:,.0f} "
            f"({pair['policy'][t]['quiet'][1]} / {pair['today'][t]['quiet'][1]} thr)" for t in TEMPLATES), flush=True)
    results = Results("A quiet machine: the thread policy against torch's defaults (median of per-pair ratios)")
    for t in TEMPLATES:
        results.add(f"{t}: policy quiet / today quiet", figure=statistics.median(ratios[t]), bar=QUIET_BAR, unit="×",
                    lower_is_better=False,
                    extra=" ".join(f"{x:.3f}" for x in ratios[t]) +
                    f"  (medians {statistics.median(rates[t]['policy']):,.0f} / "
                    f"{statistics.median(rates[t]['today']):,.0f} samples/s)")
    results.print_table()
    return results.exit_code(check)


if __name__ == "__main__":
    sys.exit(main())
