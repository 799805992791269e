"""What a project stores about training and data: dataclasses with defaults and forgiving validation.

    training = TrainingSettings(epochs=20, optimizer="sgd", lr=0.1)
    problems: list[str] = []
    training = TrainingSettings.from_dict({"lr": -1}, problems, "training")
    problems   # ["training.lr must be a positive number (got -1)"]

`from_dict` never raises on user data: every problem is collected in plain words with its place, and
the setting keeps its default so the caller can go on checking the rest of the file.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
SCHEDULERS = ("none", "step", "cosine", "one_cycle", "plateau")
INITS = ("default", "xavier", "kaiming")
EARLY_STOPPING_METRICS = ("val_loss", "val_accuracy")
DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("fp32", "bf16", "fp16")
MAX_SEED = 2**32 - 1  # numpy's seeds stop here; torch's go further
_CUDA_N = re.compile(r"^cuda:\d{1,3}$")


class _Bad(Exception):
    """A value a setting refuses; the text completes '<place> must be …'."""


# --- value checks: each returns the value in its canonical form or raises _Bad -----------------------


def _show(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return f"a {_json_type(value)}"


def _json_type(value: Any) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list | tuple):
        return "list"
    return type(value).__name__


def _whole(value: Any, what: str, minimum: int, maximum: int | None = None) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum or (
        maximum is not None and value > maximum
    ):
        raise _Bad(f"{what} (got {_show(value)})")
    return value


def _number(value: Any) -> float | None:
    """A finite float, or None when `value` is not one."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def positive_int(value: Any) -> int:
    return _whole(value, "a whole number of at least 1", 1)


def optional_positive_int(value: Any) -> int | None:
    if value is None:
        return None
    return _whole(value, "a whole number of at least 1, or null for automatic", 1)


def seed_value(value: Any) -> int:
    return _whole(value, f"a whole number from 0 to {MAX_SEED}", 0, MAX_SEED)


def positive_float(value: Any) -> float:
    x = _number(value)
    if x is None or x <= 0:
        raise _Bad(f"a positive number (got {_show(value)})")
    return x


def optional_positive_float(value: Any) -> float | None:
    if value is None:
        return None
    x = _number(value)
    if x is None or x <= 0:
        raise _Bad(f"a positive number, or null for none (got {_show(value)})")
    return x


def non_negative_float(value: Any) -> float:
    x = _number(value)
    if x is None or x < 0:
        raise _Bad(f"a number of at least 0 (got {_show(value)})")
    return x


def unit_interval(value: Any) -> float:
    """0 ≤ x ≤ 1 (momentum)."""
    x = _number(value)
    if x is None or not 0 <= x <= 1:
        raise _Bad(f"a number from 0 to 1 (got {_show(value)})")
    return x


def decay_factor(value: Any) -> float:
    """0 < x < 1 (the factor a scheduler multiplies the learning rate by)."""
    x = _number(value)
    if x is None or not 0 < x < 1:
        raise _Bad(f"a number between 0 and 1, both excluded (got {_show(value)})")
    return x


def fraction(value: Any) -> float:
    """0 ≤ x < 1 (the share of the data kept for validation)."""
    x = _number(value)
    if x is None or not 0 <= x < 1:
        raise _Bad(f"a number from 0 up to (but not including) 1 (got {_show(value)})")
    return x


def boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _Bad(f"true or false (got {_show(value)})")
    return value


def one_of(*choices: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if value not in choices or not isinstance(value, str):
            raise _Bad(f"one of {', '.join(repr(c) for c in choices)} (got {_show(value)})")
        return value

    return check


def device_name(value: Any) -> str:
    if isinstance(value, str) and (value in DEVICES or _CUDA_N.match(value)):
        return value
    options = ", ".join(repr(d) for d in DEVICES)
    raise _Bad(f"one of {options}, or 'cuda:N' for the N-th GPU (got {_show(value)})")


def data_source(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Bad(f"a data set name like 'digits' or a file path (got {_show(value)})")
    return value


def plain_json(value: Any, place: str, problems: list[str], *, objects: bool = True, depth: int = 0) -> Any:
    """`value` as plain JSON data (None, bool, finite numbers, text, lists, and objects with text keys
    when `objects`); tuples become lists. Anything else is reported under `place` and dropped (None)."""
    if depth > 32:
        problems.append(f"{place} is nested too deeply")
        return None
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            problems.append(f"{place} must be a finite number (got {value!r})")
            return None
        return value
    if isinstance(value, list | tuple):
        return [plain_json(v, f"{place}[{i}]", problems, objects=objects, depth=depth + 1)
                for i, v in enumerate(value)]
    if isinstance(value, dict) and objects:
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                problems.append(f"{place} has a key that is not text ({k!r})")
                continue
            out[k] = plain_json(v, f"{place}.{k}", problems, objects=objects, depth=depth + 1)
        return out
    allowed = "text, a number, true/false, null or a list" + (" or an object" if objects else "")
    problems.append(f"{place} must be {allowed} (got {_show(value)})")
    return None


# --- the settings -------------------------------------------------------------------------------


def _setting(default: Any, check: Callable[[Any], Any], help: str) -> Any:
    """A dataclass field with its check (value → canonical value, or _Bad) and one-line help."""
    return field(default=default, metadata={"check": check, "help": help})


class _Settings:
    """Shared behaviour of the settings dataclasses: to_dict, from_dict, problems."""

    def to_dict(self) -> dict[str, Any]:
        """Every setting as plain JSON data (lists copied)."""
        problems: list[str] = []
        return {f.name: plain_json(getattr(self, f.name), f.name, problems) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: Any, problems: list[str], where: str = "") -> Any:
        """Settings from plain data; a missing setting takes its default, a bad one is reported in
        `problems` (as '<where>.<setting> must be …') and keeps its default. Never raises."""
        prefix = f"{where}." if where else ""
        if not isinstance(d, dict):
            problems.append(f"{where or 'the settings'} must be an object (got {_show(d)})")
            return cls()
        known = {f.name: f for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, raw in d.items():
            f = known.get(key)
            if f is None:
                close = difflib.get_close_matches(str(key), known, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                problems.append(f"{prefix}{key} is not a setting{hint}")
                continue
            try:
                values[key] = f.metadata["check"](raw)
            except _Bad as bad:
                problems.append(f"{prefix}{key} must be {bad}")
        obj = cls(**values)
        problems.extend(f"{prefix}{p}" for p in obj._cross_checks())
        return obj

    def problems(self, where: str = "") -> list[str]:
        """Every problem of the current values (empty when all are valid), as from_dict words them."""
        found: list[str] = []
        type(self).from_dict(self.to_dict(), found, where)
        return found

    def _cross_checks(self) -> list[str]:
        return []


QUIET_DEFAULTS = ("beta1", "discriminator_lr", "d_steps", "g_steps")  # written into files only when changed


@dataclass
class TrainingSettings(_Settings):
    """How to train: loop length, optimizer, schedule, regularization, stopping, reproducibility, device."""

    epochs: int = _setting(10, positive_int, "Passes over the training data.")
    batch_size: int = _setting(64, positive_int, "Samples per optimizer step.")
    optimizer: str = _setting("adam", one_of(*OPTIMIZERS), "The update rule.")
    lr: float = _setting(1e-3, positive_float, "Learning rate: the size of each step.")
    momentum: float = _setting(0.9, unit_interval, "Momentum of sgd and rmsprop.")
    nesterov: bool = _setting(False, boolean, "Nesterov momentum (sgd only).")
    weight_decay: float = _setting(0.0, non_negative_float, "L2 penalty on the weights.")
    scheduler: str = _setting("none", one_of(*SCHEDULERS), "How the learning rate changes over time.")
    step_size: int = _setting(10, positive_int, "Epochs between learning-rate drops (step).")
    gamma: float = _setting(0.1, decay_factor, "Factor of each learning-rate drop (step, plateau).")
    grad_clip: float | None = _setting(None, optional_positive_float, "Largest gradient norm, or null.")
    init: str = _setting("default", one_of(*INITS), "How the weights start.")
    early_stopping: bool = _setting(False, boolean, "Stop when the validation metric stops improving.")
    early_stopping_metric: str = _setting("val_loss", one_of(*EARLY_STOPPING_METRICS), "What early stopping watches.")
    patience: int = _setting(5, positive_int, "Epochs without improvement before stopping (and for plateau).")
    seed: int = _setting(0, seed_value, "Seed of every random number generator.")
    device: str = _setting("auto", device_name, "Where to train: auto, cpu, cuda, cuda:N or mps.")
    precision: str = _setting("fp32", one_of(*PRECISIONS), "Number format of the computation.")
    threads: int | None = _setting(None, optional_positive_int, "CPU threads, or null for automatic.")
    val_fraction: float = _setting(0.2, fraction, "Share of the data kept for validation.")
    beta1: float = _setting(0.9, fraction, "Adam's β1, the decay of its mean of past gradients (0.5 for GANs).")
    discriminator_lr: float = _setting(2e-4, positive_float, "A GAN's discriminator learning rate (lr: generator's).")
    d_steps: int = _setting(1, positive_int, "A GAN's discriminator steps (batches) per generator turn.")
    g_steps: int = _setting(1, positive_int, "A GAN's generator steps at each of its turns.")

    def to_dict(self) -> dict[str, Any]:
        """Every setting as plain JSON data, but the ones of QUIET_DEFAULTS only when changed (a project that
        trains no GAN keeps the file it had)."""
        out = super().to_dict()
        for f in fields(self):
            if f.name in QUIET_DEFAULTS and out[f.name] == f.default:
                del out[f.name]
        return out

    def _cross_checks(self) -> list[str]:
        if self.optimizer == "sgd" and self.nesterov and self.momentum == 0:
            return ["nesterov needs a momentum above 0 (set momentum, or turn nesterov off)"]
        return []


@dataclass
class DataSettings(_Settings):
    """Where the data comes from and how to prepare it.

    `source` is a built-in or downloadable set ("digits", "iris", "mnist", …) or a file path;
    `options` holds plain JSON values for the data source, e.g. {"resize": [28, 28]}.
    """

    source: str = _setting("digits", data_source, "A data set name or a file path.")
    options: dict[str, Any] = field(default_factory=dict, metadata={
        "check": lambda v: v, "help": "Options of the data source (plain JSON values)."})

    @classmethod
    def from_dict(cls, d: Any, problems: list[str], where: str = "") -> DataSettings:
        """As _Settings.from_dict, with `options` checked to hold plain JSON values only."""
        prefix = f"{where}." if where else ""
        raw_options = d.get("options", {}) if isinstance(d, dict) else {}
        rest = {k: v for k, v in d.items() if k != "options"} if isinstance(d, dict) else d
        obj = super().from_dict(rest, problems, where)
        obj.options = _options(raw_options, f"{prefix}options", problems)
        return obj


def _options(raw: Any, place: str, problems: list[str]) -> dict[str, Any]:
    if not isinstance(raw, dict):
        problems.append(f"{place} must be an object of names and values (got {_show(raw)})")
        return {}
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if not isinstance(key, str) or not key:
            problems.append(f"{place} has a name that is not text ({key!r})")
            continue
        before = len(problems)
        clean = plain_json(value, f"{place}.{key}", problems, objects=False)
        if len(problems) == before:
            out[key] = clean
    return out


def setting_help(cls: type, name: str) -> str:
    """The one-line help of a setting (for the GUI's settings form and the command line)."""
    for f in fields(cls):
        if f.name == name:
            return f.metadata.get("help", "")
    raise KeyError(name)
