"""The preprocessing a model was trained with, as facts that travel with it: run folders
(`preprocessing.json`), bundles, and a JSON file beside every export.

    pre = Preprocessing.from_info(prepared.info)     # after load_data(...)
    pre.describe()      # ["images 1×28×28: pixels ÷ 255, resized to 28×28, minus mean 0.1304, ÷ std 0.3080", …]
    pre.prepare(raw)    # raw images / rows / texts / series values → the model's input tensor
    pre.to_dict()       # {"format": "layerloom-preprocessing", "version": 1, "kind": "image", …}

The arithmetic lives in `preprocess_runtime` (PyTorch only), which the Python export copies into model.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from layerloom.core.data import preprocess_runtime as runtime
from layerloom.core.data.base import IMAGE, SEQUENCE, SERIES, SIGNAL, TEXT, VECTOR, DataError

FORMAT = "layerloom-preprocessing"
VERSION = 1
KINDS = (IMAGE, VECTOR, TEXT, SEQUENCE, SIGNAL, SERIES)
PreprocessError = runtime.PreprocessError


class PreprocessingError(DataError):
    """Preprocessing facts that are missing or damaged; the message names the file."""


@dataclass
class Preprocessing:
    """What turns raw data into the model's input (and its outputs back into the data's units)."""

    facts: dict[str, Any] = field(default_factory=dict)

    # --- building -----------------------------------------------------------------------------------

    @classmethod
    def from_info(cls, info) -> Preprocessing:
        """From a loaded data set's DataInfo (normalization fitted on its training part)."""
        kind = info.kind or (TEXT if info.vocabulary else IMAGE if info.image_shape else VECTOR)
        shape = list(info.input_shapes[0]) if info.input_shapes else []
        facts: dict[str, Any] = {
            "format": FORMAT, "version": VERSION, "kind": kind, "task": info.task, "data": info.name,
            "source": info.source, "input_shape": shape,
            "input_dtype": info.input_dtypes[0] if info.input_dtypes else "float32",
            "class_names": list(info.class_names) if info.class_names else None,
        }
        norm = dict(info.normalization or {})
        if kind == IMAGE:
            c, h, w = info.image_shape or shape
            facts["image"] = {"channels": int(c), "height": int(h), "width": int(w),
                              "scale": float(norm.get("scale", 255.0)),
                              "mean": _floats(norm.get("mean", [0.0] * c)), "std": _floats(norm.get("std", [1.0] * c)),
                              "flatten": len(shape) == 1}
        elif kind == TEXT:
            facts["text"] = {"tokenizer": norm.get("tokenizer", "word"), "lowercase": bool(norm.get("lowercase", True)),
                             "seq_len": int(norm.get("seq_len", shape[0] if shape else 1)),
                             "padding": norm.get("padding", "pre"), "pad_id": int(norm.get("pad_id", 0)),
                             "unk_id": int(norm.get("unk_id", 1)), "vocabulary": list(info.vocabulary or [])}
        elif kind == SERIES:
            facts["series"] = {"window": int(shape[0]) if shape else 1,
                               "horizon": int(info.target_shapes[0][0]) if info.target_shapes and
                               info.target_shapes[0] else 1,
                               "mean": float(_floats(norm.get("mean", [0.0]))[0]),
                               "std": float(_floats(norm.get("std", [1.0]))[0])}
        else:
            n = shape[1 if kind == SIGNAL else -1] if shape else 0
            facts["features"] = {"mean": _floats(norm.get("mean", [0.0] * n)),
                                 "std": _floats(norm.get("std", [1.0] * n)),
                                 "names": list(getattr(info, "feature_names", None) or []) or None}
        tn = info.target_normalization
        facts["target"] = {"mean": _floats(tn["mean"]), "std": _floats(tn["std"])} if tn else None
        return cls(facts)

    @classmethod
    def from_dict(cls, data: Any, where: str = "the preprocessing facts") -> Preprocessing:
        """Validated facts (as read from JSON); PreprocessingError names what is wrong."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise PreprocessingError(f"{where}: not Layerloom preprocessing facts (format {FORMAT!r} expected)")
        version = data.get("version")
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise PreprocessingError(f"{where}: the version must be a whole number (got {version!r})")
        if version > VERSION:
            raise PreprocessingError(f"{where}: written by a newer Layerloom (preprocessing version {version}); "
                                     "please update")
        kind = data.get("kind")
        if kind not in KINDS:
            raise PreprocessingError(f"{where}: unknown kind of data {kind!r}")
        section = {IMAGE: "image", TEXT: "text", SERIES: "series"}.get(kind, "features")
        if not isinstance(data.get(section), dict):
            raise PreprocessingError(f"{where}: the {section!r} section is missing")
        shape = data.get("input_shape")
        if not isinstance(shape, list) or not shape or not all(isinstance(s, int) and not isinstance(s, bool)
                                                               and s > 0 for s in shape):
            raise PreprocessingError(f"{where}: input_shape must be a non-empty list of positive whole numbers")
        try:
            _check_section(kind, data[section])
        except (KeyError, TypeError, ValueError) as err:
            raise PreprocessingError(f"{where}: the {section!r} section is damaged ({err})") from None
        names = data.get("class_names")
        if names is not None and (not isinstance(names, list) or not all(isinstance(n, str) for n in names)):
            raise PreprocessingError(f"{where}: class_names must be a list of texts")
        return cls(dict(data))

    def to_dict(self, vocabulary: bool = True) -> dict[str, Any]:
        """The facts as JSON-ready data; `vocabulary=False` leaves a text model's vocabulary out (it is
        then written to a file of its own)."""
        out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in self.facts.items()}
        if not vocabulary and "text" in out:
            out["text"].pop("vocabulary", None)
        return out

    # --- reading ------------------------------------------------------------------------------------

    @property
    def kind(self) -> str:
        return self.facts["kind"]

    @property
    def class_names(self) -> list[str] | None:
        return self.facts.get("class_names")

    @property
    def vocabulary(self) -> list[str] | None:
        return (self.facts.get("text") or {}).get("vocabulary")

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.facts["input_shape"])

    @property
    def bakeable(self) -> bool:
        """Whether scaling and normalization can be the exported graph's first operations (not for text:
        token ids come from a tokenizer, outside any graph)."""
        return self.kind != TEXT

    def prepare(self, data, vocabulary=None):
        """Raw data → the model's input tensor (PreprocessError in plain words when it does not fit)."""
        return runtime.prepare(data, self.facts, vocabulary)

    def to_units(self, outputs):
        return runtime.to_units(outputs, self.facts)

    def tokens(self, text: str) -> list[str]:
        return runtime.split_tokens(text, self.facts)

    def raw_input_words(self) -> str:
        """What the baked-in export takes, in words."""
        shape = "×".join(map(str, self.input_shape))
        if self.kind == IMAGE:
            return f"pixel values 0–255 (float32), batch × {shape}"
        if self.kind == SERIES:
            return f"the last {self.facts['series']['window']} values of the series as they are, batch × {shape}"
        if self.kind == TEXT:
            return f"token ids (int64), batch × {shape}"
        return f"feature values as in the data file, batch × {shape}"

    def describe(self) -> list[str]:
        """The preprocessing in plain words, one step a line."""
        f, kind = self.facts, self.kind
        lines = []
        if kind == IMAGE:
            im = f["image"]
            stats = ", ".join(f"{m:.4g}/{s:.4g}" for m, s in zip(im["mean"], im["std"]))
            lines.append(f"images of {im['channels']} channel(s), resized to {im['height']}×{im['width']} "
                         "(bilinear, antialiased)")
            lines.append("pixels scaled to 0–1 (uint8 ÷ 255)")
            if any(m != 0.0 or s != 1.0 for m, s in zip(im["mean"], im["std"])):
                lines.append(f"then normalized per channel: (x − mean) ÷ std with mean/std {stats} (fitted on the "
                             "training part)")
            if im.get("flatten"):
                lines.append(f"then flattened to {im['channels'] * im['height'] * im['width']} values")
        elif kind == TEXT:
            t = f["text"]
            lines.append(f"{'lower-cased, ' if t.get('lowercase') else ''}split into "
                         f"{'characters' if t['tokenizer'] == 'char' else 'words and punctuation'}")
            lines.append(f"tokens → ids with a vocabulary of {len(t.get('vocabulary') or []):,} (0 = padding, "
                         "1 = unknown)")
            side = "before" if t["padding"] == "pre" else "after"
            lines.append(f"cut or padded to {t['seq_len']} ids, padding {side} the text")
        elif kind == SERIES:
            s = f["series"]
            lines.append(f"the last {s['window']} values, scaled: (x − {s['mean']:.4g}) ÷ {s['std']:.4g}")
            lines.append(f"predicts the next {s['horizon']} value(s), scaled back to the series' units")
        else:
            n = len(f["features"]["mean"])
            what = {VECTOR: "feature", SEQUENCE: "feature", SIGNAL: "channel"}[kind]
            lines.append(f"each of the {n} {what}s normalized: (x − mean) ÷ std (fitted on the training part)")
        if f.get("target") and kind != SERIES:
            lines.append("regression targets were scaled; outputs are scaled back to the data's units")
        if f.get("class_names"):
            names = f["class_names"]
            lines.append(f"{len(names)} classes: {', '.join(names[:10])}{', …' if len(names) > 10 else ''}")
        return lines


def _floats(values) -> list[float]:
    return [float(v) for v in values]


def _check_section(kind: str, sec: dict) -> None:
    def numbers(key):
        vals = sec[key]
        if not isinstance(vals, list) or not vals or not all(isinstance(v, int | float) and not isinstance(v, bool)
                                                           and math.isfinite(v) for v in vals):
            raise ValueError(f"{key} must be a list of finite numbers")
        return vals

    if kind == IMAGE:
        for key in ("channels", "height", "width"):
            if not isinstance(sec[key], int) or sec[key] < 1:
                raise ValueError(f"{key} must be a positive whole number")
        if len(numbers("mean")) != sec["channels"] or len(numbers("std")) != sec["channels"]:
            raise ValueError("mean and std need one value per channel")
        if any(s == 0 for s in sec["std"]):
            raise ValueError("std must not be 0")
    elif kind == TEXT:
        if not isinstance(sec["seq_len"], int) or sec["seq_len"] < 1:
            raise ValueError("seq_len must be a positive whole number")
        if sec["tokenizer"] not in ("word", "char") or sec.get("padding", "pre") not in ("pre", "post"):
            raise ValueError("tokenizer must be word or char, padding pre or post")
        vocab = sec.get("vocabulary")
        if vocab is not None and (not isinstance(vocab, list) or not all(isinstance(v, str) for v in vocab)):
            raise ValueError("vocabulary must be a list of tokens")
    elif kind == SERIES:
        if not isinstance(sec["window"], int) or sec["window"] < 1:
            raise ValueError("window must be a positive whole number")
        if not math.isfinite(float(sec["mean"])) or not float(sec["std"]):
            raise ValueError("mean and std must be finite, std not 0")
    else:
        if len(numbers("mean")) != len(numbers("std")) or any(s == 0 for s in sec["std"]):
            raise ValueError("mean and std need one value per feature, std not 0")


def from_settings(settings: Any) -> Preprocessing | None:
    """Facts rebuilt from a run's settings.json (runs and bundles from before preprocessing.json): the
    normalization, shapes and class names it recorded; a text model's vocabulary was not recorded then."""
    from layerloom.core.data.base import DataInfo

    data = settings.get("data") if isinstance(settings, dict) else None
    if not isinstance(data, dict) or not isinstance(data.get("input_shapes"), list) or not data["input_shapes"] \
            or not isinstance(data["input_shapes"][0], list):
        return None
    norm = data.get("normalization") if isinstance(data.get("normalization"), dict) else {}
    shape = tuple(data["input_shapes"][0])
    kind = {"tokens": TEXT, "series": SERIES, "per_feature": SEQUENCE if len(shape) == 2 else VECTOR}.get(
        norm.get("kind"), IMAGE if "scale" in norm else SIGNAL if norm.get("kind") == "per_channel" else VECTOR)
    info = DataInfo(name=str(data.get("name", "")), task=str(data.get("task", "classification")),
                    input_shapes=[shape], input_dtypes=["int64" if kind == TEXT else "float32"],
                    target_shapes=[tuple(t) for t in data.get("target_shapes") or []],
                    class_names=data.get("class_names"), normalization=norm, kind=kind,
                    source=str(data.get("source", "")))
    if kind == IMAGE:
        c = len(norm.get("mean", [0.0]))
        info.image_shape = shape if len(shape) == 3 else (c, *_square(int(math.prod(shape)) // max(c, 1)))
    try:
        return Preprocessing.from_dict(Preprocessing.from_info(info).to_dict())  # checked like a file's facts
    except (TypeError, ValueError, IndexError, KeyError, PreprocessingError):
        return None


def _square(n: int) -> tuple[int, int]:
    side = math.isqrt(n)
    return (side, side) if side * side == n else (1, n)
