"""Predictions for the prediction view: on the live model while a run goes on (served by the trainer
between two steps, through `TrainControl.request_prediction`), on the trained model afterwards.

    p = controller.predictor
    p.input_shape                   # (1, 28, 28): one sample as the model's first Input takes it
    probs = p.predict(images)       # N×… images as a person sees them (0..1 floats or uint8 0..255)
    probs.sum(axis=1)               # 1 for classifiers (softmax; [1-p, p] for one sigmoid output)

Inputs are what a person sees (pixel values in 0..1, or 0..255 as uint8); the predictor applies the data's
normalization (fitted on the training data) before the model sees them. `normalized=True` skips that
(for samples taken straight from a split).
"""

from __future__ import annotations

import numpy as np

PREDICT_TIMEOUT_S = 10.0


class PredictionError(RuntimeError):
    """Predictions are not possible now (no model yet, or a shape the model cannot take)."""


class Predictor:
    def __init__(self, controller):
        self.controller = controller

    # --- what the model takes -----------------------------------------------------------------------

    @property
    def graph(self):
        return self.controller.document.graph

    @property
    def input_shape(self) -> tuple[int, ...] | None:
        for node in self.graph:
            if node.type == "Input":
                return tuple(int(s) for s in node.params.get("shape", ()))
        return None

    @property
    def class_names(self) -> list[str] | None:
        info = self.controller.info_for_predictions()
        if info is not None and info.class_names:
            return list(info.class_names)
        run = self.controller.run
        if run is not None and run.class_names:
            return list(run.class_names)
        return None

    @property
    def available(self) -> bool:
        c = self.controller
        return (c.running and c.control is not None) or c.model is not None

    def _loss(self) -> str:
        for node in self.graph:
            if node.type == "Output":
                return str(node.params.get("loss", "cross_entropy"))
        return "cross_entropy"

    # --- predicting ---------------------------------------------------------------------------------

    def normalize(self, x: np.ndarray) -> np.ndarray:
        """Images as a person sees them → what the model was trained on."""
        x = np.asarray(x)
        if x.dtype == np.uint8:
            x = x.astype(np.float32) / 255.0
        x = x.astype(np.float32)
        info = self.controller.info_for_predictions()
        norm = (info.normalization or {}) if info is not None else {}
        if norm.get("kind") == "per_channel" and info.image_shape is not None:
            mean = np.asarray(norm.get("mean", [0.0]), np.float32)
            std = np.asarray(norm.get("std", [1.0]), np.float32)
            c = len(mean)
            shape = x.shape
            flat = x.reshape(shape[0], c, -1) if x.size == shape[0] * c * (x[0].size // c) else None
            if flat is not None:
                flat = (flat - mean.reshape(1, c, 1)) / std.reshape(1, c, 1)
                x = flat.reshape(shape)
        elif norm.get("kind") == "per_feature":
            mean = np.asarray(norm.get("mean", [0.0]), np.float32)
            std = np.asarray(norm.get("std", [1.0]), np.float32)
            x = (x - mean) / std
        return x

    def _prepare(self, inputs, normalized: bool) -> np.ndarray:
        shape = self.input_shape
        x = np.asarray(inputs)
        if shape is None:
            raise PredictionError("the network has no Input block")
        size = int(np.prod(shape))
        if x.size == size:  # one sample
            x = x.reshape(1, *shape)
        elif x.size % size == 0:
            x = x.reshape(-1, *shape)
        else:
            raise PredictionError(f"the model takes samples of {'×'.join(map(str, shape))}; got {x.shape}")
        return x.astype(np.float32) if normalized else self.normalize(x)

    def raw_outputs(self, inputs, normalized: bool = False) -> np.ndarray:
        """The model's output (first Output) for `inputs`: logits for classifiers."""
        x = self._prepare(inputs, normalized)
        c = self.controller
        if c.running and c.control is not None and c.run is not None:
            future = c.control.request_prediction((x,))
            try:
                out = future.result(timeout=PREDICT_TIMEOUT_S)
            except Exception as err:
                if c.model is None:
                    raise PredictionError(f"no prediction: {err}") from None
                out = None
            if out is not None:
                return np.asarray(out[0] if isinstance(out, tuple) else out, dtype=np.float32)
        if c.model is None:
            raise PredictionError("train the network first: there is no trained model yet")
        import torch

        from layerloom.core.training.threads import keep_this_thread_serial

        keep_this_thread_serial()  # the GUI thread: no OpenMP pool beside a training run's (threads.py)
        model = c.model
        device = next((p.device for p in model.parameters()), torch.device("cpu"))
        model.eval()
        with torch.no_grad():
            out = model(torch.from_numpy(np.ascontiguousarray(x)).to(device))
        if isinstance(out, tuple):
            out = out[0]
        return out.float().cpu().numpy()

    def predict(self, inputs, normalized: bool = False) -> np.ndarray:
        """Class probabilities (rows sum to 1) for classifiers; the raw outputs otherwise."""
        out = self.raw_outputs(inputs, normalized)
        out = out.reshape(out.shape[0], -1).astype(np.float64)
        loss = self._loss()
        if loss == "cross_entropy":
            out = out - out.max(axis=1, keepdims=True)
            e = np.exp(out)
            return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
        if loss == "bce_with_logits":
            p = 1.0 / (1.0 + np.exp(-out))
            if p.shape[1] == 1:
                return np.concatenate([1.0 - p, p], axis=1).astype(np.float32)
            return p.astype(np.float32)
        return out.astype(np.float32)
