"""What the Curves view says in words and tables: the readout above its plots (the values at the hovered step,
or at the last one) and its CSV export.

    view.readout.setText(readout_html(view))       # "step 1,234 · epoch 3 ● loss 0.12 (smoothed 0.13) ● lr …"
    curves_csv(view, "curves.csv")                 # one row per step, the epochs' figures at their last step
"""

from __future__ import annotations

import html

from layerloom.core.training.metric_text import metric_value
from layerloom.gui.plots.common import fmt, series_color, write_csv

METRIC_TITLES = {"val_accuracy": "validation accuracy", "train_accuracy": "training accuracy (epoch)",
                 "val_mae": "validation MAE", "val_r2": "validation R²", "val_kl": "validation KL term"}
# a VAE's loss terms: the reconstruction term on the loss plot (the loss is mostly that), the KL on the metric plot
LOSS_TERMS = {"val_reconstruction": "validation reconstruction"}
PERCENT = ("val_accuracy", "train_accuracy")


def readout_html(view) -> str:
    """The values at the hovered step (the last step when none is): step, epoch, loss, lr, and the figures of the
    last epoch that ended there or before."""
    n = len(view.step)
    if n == 0 and not view.epochs:
        return "<span style='color:gray'>Waiting for the first training steps…</span>"
    hover = view._hover_index
    i = hover if hover is not None and hover < n else n - 1
    parts = []
    if n:
        step = int(view.step.values[i])
        epoch = int(view.epoch_of_step.values[i])
        stepped = " · stepped" if step in view.stepped.values else ""
        parts.append(f"<b>{_nb(f'step {step:,}')}</b>{_nb(f' · epoch {epoch + 1}{stepped}')}")
        loss, smoothed = fmt(view.loss.values[i]), fmt(view.smoothed.values[i])
        parts.append(_dot("loss") + _nb(f"loss {loss} (smoothed {smoothed})"))
        parts.append(_dot("lr") + _nb(f"lr {fmt(view.lr.values[i], 3)}"))
    else:
        step = None
    row = view.epoch_table.latest_at(step)  # the last epoch ended at or before the hovered step
    rec = view.epochs[row] if row is not None and row < len(view.epochs) else None
    if rec is not None:
        if rec.get("val_loss") is not None:
            parts.append(_dot("val") + _nb(f"val loss {fmt(rec['val_loss'])}"))
        for k in ("val_accuracy", "val_mae", "val_r2", "val_reconstruction", "val_kl"):
            if k in rec:
                v = rec[k]
                text = metric_value(k, v) if k in PERCENT else fmt(v)
                title = {**METRIC_TITLES, **LOSS_TERMS}[k].replace("validation ", "val ")
                parts.append(_dot("accuracy") + _nb(f"{title} {text}"))
    return " \u00a0 ".join(parts)  # lines break between the parts only


def curves_csv(view, path: str) -> None:
    """One row per kept step (every step up to STEP_CAP; past it the kept envelope, the run folder's steps.csv
    has them all): step, epoch (1-based), loss, loss_smoothed, lr; at the last step of each epoch also the
    epoch's train_loss, val_loss and metrics (empty elsewhere). Epochs without steps (none in a normal run) get a
    row of their own."""
    epochs = view.epochs
    metric_keys = sorted({k for r in epochs for k in r} - {"epoch", "step", "train_loss", "val_loss", "lr"})
    epoch_cols = ["train_loss", "val_loss", *metric_keys]
    header = ["step", "epoch", "loss", "loss_smoothed", "lr", *epoch_cols]
    by_step: dict[int, dict] = {int(r["step"]): r for r in epochs}
    rows = []
    seen = set()
    for s, e, v, sm, lr in zip(view.step.values.tolist(), view.epoch_of_step.values.tolist(),
                               view.loss.values.tolist(), view.smoothed.values.tolist(), view.lr.values.tolist()):
        r = by_step.get(int(s))
        if r is not None:
            seen.add(int(s))
        rows.append([int(s), e + 1, v, sm, lr, *[(r.get(k) if r else None) for k in epoch_cols]])
    for s, r in by_step.items():
        if s not in seen:
            rows.append([s, r["epoch"] + 1, None, None, r.get("lr"), *[r.get(k) for k in epoch_cols]])
    write_csv(path, header, rows)


def _dot(series: str) -> str:
    return f"<span style='color:{html.escape(series_color(series).name())}'>●</span>\u00a0"


def _nb(text: str) -> str:
    """Escaped text whose words stay on one line."""
    return html.escape(text).replace(" ", "\u00a0")
