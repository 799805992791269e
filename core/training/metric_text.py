"""How results are written for people, the same in the training panel, the status bar and the run history:
accuracies as a percentage with one decimal ("91.1 %"), losses and other metrics as plain numbers ("0.0517").

    metric_text("val_accuracy", 0.9106)   # "val accuracy 91.1 %"
    metric_value("val_loss", 0.05169)     # "0.0517"
"""

from __future__ import annotations


def is_percent(metric: str) -> bool:
    """Whether a metric is a share of samples, written as a percentage (the accuracies)."""
    return metric.endswith("accuracy")


def plain_number(value: float) -> str:
    """Four decimals ("0.0517", "2.3026"); values too small or too large for them keep four significant
    digits ("0.000293", "1.235e+05")."""
    v = float(value)
    if v == 0 or 1e-3 <= abs(v) < 1e5:
        return f"{v:.4f}"
    return f"{v:.4g}"


def metric_value(metric: str, value: float | None) -> str:
    """The value alone: "91.1 %" for an accuracy, "0.0517" for a loss, "–" for none."""
    if value is None:
        return "–"
    return f"{float(value) * 100:.1f} %" if is_percent(metric) else plain_number(value)


def metric_text(metric: str, value: float | None) -> str:
    """The metric's name in words and its value: "val accuracy 91.1 %", "train loss 0.0517" ("–" for none)."""
    if value is None:
        return "–"
    return f"{metric.replace('_', ' ')} {metric_value(metric, value)}"
