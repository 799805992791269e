"""Reading a data source's options: typed getters with plain-words errors, and a check for names no
reader asked for (a typo such as `resise` is refused with the closest known name)."""

from __future__ import annotations

import contextlib
import difflib
from typing import Any

from layerloom.core.data.base import DataError

# Every option name some source reads (a test keeps this in step with the readers).
ALL_OPTIONS = frozenset({
    # images
    "resize", "flatten", "random_crop", "hflip", "normalize", "storage", "color", "layout", "kind",
    # tables, texts and time series in delimited files
    "task", "target", "delimiter", "header", "normalize_target", "text_column", "label_column", "tokenizer",
    "vocab_size", "seq_len", "lowercase", "padding", "column", "window", "horizon",
    # downloads
    "validation", "limit",
    # generated sets
    "n", "length", "features", "noise", "period", "data_seed", "classes",
})


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return repr(value)


def suggest(word: str, known) -> str:
    """'; did you mean 'resize'?' or ''."""
    close = difflib.get_close_matches(str(word), list(known), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


class Options:
    """The options of one data source. Every getter records the name it was asked for, so that
    `check_unknown` can refuse names that no reader of this source uses."""

    def __init__(self, options: dict | None, source: str):
        if options is None:
            options = {}
        if not isinstance(options, dict):
            raise DataError(f"the options of {source!r} must be names and values (got {_show(options)})")
        for key in options:
            if not isinstance(key, str):
                raise DataError(f"the options of {source!r} have a name that is not text ({key!r})")
        self.values = dict(options)
        self.source = source
        self.asked: set[str] = set()

    def __contains__(self, name: str) -> bool:
        self.asked.add(name)
        return name in self.values and self.values[name] is not None

    def raw(self, name: str, default: Any = None) -> Any:
        self.asked.add(name)
        value = self.values.get(name)
        return default if value is None else value

    def error(self, name: str, wants: str, hint: str = "") -> DataError:
        return DataError(f"option {name} of {self.source!r} must be {wants} (got {_show(self.values.get(name))})"
                         f"{hint}", option=name)

    def integer(self, name: str, default: int | None, minimum: int | None = None,
                maximum: int | None = None) -> int | None:
        value = self.raw(name, default)
        if value is None:
            return None
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or (minimum is not None and value < minimum) or (
                maximum is not None and value > maximum):
            if minimum is not None and maximum is not None:
                wants = f"a whole number from {minimum} to {maximum}"
            elif minimum is not None:
                wants = f"a whole number of at least {minimum}"
            else:
                wants = "a whole number"
            raise self.error(name, wants)
        return value

    def number(self, name: str, default: float, minimum: float | None = None,
               maximum: float | None = None) -> float:
        value = self.raw(name, default)
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                value = float(value)
        if isinstance(value, bool) or not isinstance(value, int | float) or value != value or (
                minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            lo = "" if minimum is None else f" of at least {minimum}"
            hi = "" if maximum is None else f" and at most {maximum}"
            raise self.error(name, f"a number{lo}{hi}")
        return float(value)

    def boolean(self, name: str, default: bool) -> bool:
        value = self.raw(name, default)
        if isinstance(value, str) and value.strip().lower() in ("true", "yes", "on", "1", "false", "no", "off", "0"):
            return value.strip().lower() in ("true", "yes", "on", "1")
        if isinstance(value, int) and not isinstance(value, bool) and value in (0, 1):
            return bool(value)
        if not isinstance(value, bool):
            raise self.error(name, "true or false")
        return value

    def choice(self, name: str, default: str | None, choices: tuple[str, ...]) -> str | None:
        value = self.raw(name, default)
        if value is None:
            return None
        if isinstance(value, str) and value.strip().lower() in choices:
            return value.strip().lower()
        hint = suggest(value, choices) if isinstance(value, str) else ""
        raise self.error(name, "one of " + ", ".join(repr(c) for c in choices), hint)

    def size(self, name: str) -> tuple[int, int] | None:
        """An image size: [H, W], or one number for a square."""
        value = self.raw(name)
        if value is None:
            return None
        if isinstance(value, str):
            parts = value.lower().replace("×", "x").replace(",", "x").split("x")
            try:
                value = [int(p) for p in parts]
            except ValueError:
                raise self.error(name, "a size [height, width] such as [28, 28]") from None
        if isinstance(value, int) and not isinstance(value, bool):
            value = [value, value]
        if isinstance(value, list | tuple) and len(value) == 1:
            value = [value[0], value[0]]
        if (not isinstance(value, list | tuple) or len(value) != 2
                or not all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 4096 for v in value)):
            raise self.error(name, "a size [height, width] of whole numbers from 1 to 4096, such as [28, 28]")
        return int(value[0]), int(value[1])

    def column(self, name: str) -> str | int | None:
        """A column given by its header name or by its position (0 for the first)."""
        value = self.raw(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise self.error(name, "a column name or a column number (0 for the first)")
        if isinstance(value, int) and value < 0:
            raise self.error(name, "a column name or a column number (0 for the first)")
        return value

    def check_names(self, known) -> None:
        """Refuse option names outside `known` (every name any source reads)."""
        for name in sorted(self.values):
            if name not in known:
                raise DataError(f"unknown data option {name!r}{suggest(name, known)}", option=name)

    def check_unknown(self) -> None:
        """Refuse option names that no reader of this source asked for."""
        unknown = sorted(k for k in self.values if k not in self.asked)
        if not unknown:
            return
        name = unknown[0]
        known = ", ".join(sorted(self.asked))
        raise DataError(f"{self.source!r} has no option {name!r}{suggest(name, self.asked)} "
                        f"(its options: {known})", option=name)
