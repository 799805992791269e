"""Seeing inside a recurrent block: recomputing one probe sequence's states and gates on the CPU.

Bar (issue 14): the recomputation of one probe sequence for a 2-layer bidirectional LSTM of 128 units over
100 steps < 20 ms (median of repeats, after warm-up). The input has 64 features (an Embedding of 64).

  trace LSTM     trace_block(lstm, x): h, c, i, f, g, o for 2 layers × 2 directions × 100 steps (the bar)
  trace GRU      the same for a GRU of the same size (info)
  nn.LSTM        the module's own forward on the same sequence, under no_grad (info: the floor to compare)
  gradients      gradients_through_time on the same LSTM → last step → Linear (info)

The trace keeps NumPy's BLAS on the calling thread itself (a pool only waits on itself for products this small);
torch runs with --threads (default 1, as in bench_trainer.py): on a 2-core machine shared with other work, two
OpenMP threads make the info rows' tiny ops wait on each other.

Run: .venv/bin/python benchmarks/bench_recurrent_internals.py [--check] [--quick] [--threads N]
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch
import torch.nn.functional as F
from common import Results, parse_args, print_header, time_repeats
from torch import nn

from layerloom.core.recurrent import gradients_through_time, trace_block

BAR_MS = 20.0
FEATURES, HIDDEN, LAYERS, STEPS = 64, 128, 2, 100


class _Head(nn.Module):
    def __init__(self, rnn: nn.Module):
        super().__init__()
        self.rnn = rnn
        self.fc = nn.Linear(2 * HIDDEN, 3)

    def forward(self, x):
        seq, _ = self.rnn(x)
        return self.fc(seq[:, -1])



def main() -> int:
    args = parse_args(__doc__.splitlines()[0], threads=True)
    torch.set_num_threads(args.threads)
    repeats = 7 if args.quick else 41
    torch.manual_seed(0)
    lstm = nn.LSTM(FEATURES, HIDDEN, num_layers=LAYERS, bidirectional=True, batch_first=True).eval()
    gru = nn.GRU(FEATURES, HIDDEN, num_layers=LAYERS, bidirectional=True, batch_first=True).eval()
    x = torch.randn(1, STEPS, FEATURES)
    print_header(f"Recurrent internals benchmark: {LAYERS}-layer bidirectional LSTM/GRU of {HIDDEN} units, "
                 f"{STEPS} steps, {FEATURES} input features")
    results = Results("Recomputing one probe sequence (times in ms: median over repeats; min in detail)")

    t = time_repeats(lambda: trace_block(lstm, x), repeats, warmup=3)
    results.add("trace LSTM: h, c, i, f, g, o", t.median * 1e3, BAR_MS, "ms",
                extra=f"min {t.min * 1e3:.2f} ms, {len(t.samples)} repeats")
    t = time_repeats(lambda: trace_block(gru, x), repeats, warmup=3)
    results.add("trace GRU: h, r, z, n", t.median * 1e3, None, "ms", extra=f"min {t.min * 1e3:.2f} ms (info)")

    def forward():
        with torch.no_grad():
            lstm(x)

    t = time_repeats(forward, repeats, warmup=3)
    results.add("nn.LSTM forward, no_grad", t.median * 1e3, None, "ms", extra=f"min {t.min * 1e3:.2f} ms (info)")

    model, target = _Head(lstm), torch.randn(1, 3)
    t = time_repeats(lambda: gradients_through_time(model, x, target, F.mse_loss, "rnn"), max(repeats // 4, 3),
                     warmup=1)
    results.add("gradients through time, LSTM", t.median * 1e3, None, "ms",
                extra=f"min {t.min * 1e3:.2f} ms (info)")
    results.print_table()
    return results.exit_code(args.check)


if __name__ == "__main__":
    sys.exit(main())
