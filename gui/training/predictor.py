"""Predictions for the prediction view: on the live model while a run goes on (served by the trainer
between two steps, through `TrainControl.request_prediction`), on the trained model afterwards (a run's,
or one adopted with `TrainingController.adopt_trained`).

    p = controller.predictor
    p.kind                          # "image", "text", "vector", "sequence", "signal", "series" (None: unknown)
    p.input_shape                   # (1, 28, 28): one sample as the model's first Input takes it
    probs = p.predict(images)       # N×… images as a person sees them (0..1 floats or uint8 0..255)
    probs = p.predict(["great film"])   # texts, tokenized with the run's vocabulary
    p.predict(rows)                 # feature rows / sequences / series windows in the data's units

Raw inputs become the model's input through the model's `Preprocessing.prepare` (the same code as the
exports and the command line). `normalized=True` takes samples straight from a split instead (already
what the model takes: normalized features, token ids). Classifiers give probabilities (rows sum to 1);
other models their outputs in the data's units (`Preprocessing.to_units`).
"""

from __future__ import annotations

import numpy as np

PREDICT_TIMEOUT_S = 10.0


class PredictionError(RuntimeError):
    """Predictions are not possible now (no model yet, or an input the model cannot take)."""


class Predictor:
    def __init__(self, controller):
        self.controller = controller

    # --- what the model takes -----------------------------------------------------------------------

    @property
    def graph(self):
        return self.controller.model_graph()

    @property
    def input_shape(self) -> tuple[int, ...] | None:
        for node in self.graph:
            if node.type == "Input":
                return tuple(int(s) for s in node.params.get("shape", ()))
        return None

    @property
    def input_dtype(self) -> str:
        """"float32", or "int64" for token ids."""
        for node in self.graph:
            if node.type == "Input":
                return str(node.params.get("dtype", "float32"))
        return "float32"

    @property
    def preprocessing(self):
        """The model's Preprocessing (None when unknown)."""
        return self.controller.preprocessing()

    @property
    def kind(self) -> str | None:
        pre = self.preprocessing
        return pre.kind if pre is not None else None

    @property
    def task(self) -> str:
        pre = self.preprocessing
        if pre is not None and pre.facts.get("task"):
            return str(pre.facts["task"])
        return "classification" if self._loss() in ("cross_entropy", "bce_with_logits") else "regression"

    @property
    def class_names(self) -> list[str] | None:
        pre = self.preprocessing
        if pre is not None and pre.class_names:
            return list(pre.class_names)
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

    # --- inputs -------------------------------------------------------------------------------------

    def model_input(self, inputs, normalized: bool = False):
        """What the model takes (a torch tensor, batch first) for raw `inputs`, or for split samples when
        `normalized`."""
        import torch

        from layerloom.core.data.preprocessing import PreprocessError
        from layerloom.core.training.threads import keep_this_thread_serial

        keep_this_thread_serial()  # preparing is torch work too: serially on the GUI thread (threads.py)
        shape = self.input_shape
        if shape is None:
            raise PredictionError("the network has no Input block")
        pre = self.preprocessing
        if normalized or pre is None:
            if not normalized and _is_texts(inputs):
                raise PredictionError("the model's vocabulary is unknown, so texts cannot be turned into tokens")
            x = np.asarray(inputs)
            x = _batch(x.astype(np.float32) / 255.0 if x.dtype == np.uint8 and not normalized else x, shape)
            ids = self.input_dtype == "int64"
            return torch.from_numpy(np.ascontiguousarray(x.astype(np.int64 if ids else np.float32)))
        if pre.kind == "image" and not _is_texts(inputs):
            inputs = _image_batch(np.asarray(inputs), shape, pre.facts["image"])
        try:
            return pre.prepare(inputs)
        except PreprocessError as err:
            raise PredictionError(str(err)) from None

    # --- predicting ---------------------------------------------------------------------------------

    def raw_outputs(self, inputs, normalized: bool = False) -> np.ndarray:
        """The model's output (first Output) for `inputs`: logits for classifiers, scaled values otherwise."""
        x = self.model_input(inputs, normalized)
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
            out = model(x.to(device))
        if isinstance(out, tuple):
            out = out[0]
        return out.float().cpu().numpy()

    def predict(self, inputs, normalized: bool = False) -> np.ndarray:
        """Class probabilities (rows sum to 1) for classifiers; the outputs in the data's units otherwise."""
        return _finish(self.raw_outputs(inputs, normalized), self._loss(), self.preprocessing)

    def predict_later(self, inputs, normalized: bool = False):
        """`predict` without waiting for it: a concurrent.futures.Future of its result. During a run the trainer
        serves it between two steps and the future completes in the trainer's thread (numpy only there); poll
        `done()` from a timer, never block the GUI thread on it. With no run going it is done at once."""
        from concurrent.futures import Future

        result: Future = Future()
        c = self.controller
        if not (c.running and c.control is not None and c.run is not None):
            try:
                result.set_result(self.predict(inputs, normalized))
            except Exception as err:  # the caller reads it from the future
                result.set_exception(err)
            return result
        x = self.model_input(inputs, normalized)
        loss, pre = self._loss(), self.preprocessing

        def served(future) -> None:
            try:
                out = future.result()
                out = np.asarray(out[0] if isinstance(out, tuple) else out, dtype=np.float32)
                result.set_result(_finish(out, loss, pre))
            except Exception as err:
                result.set_exception(err)

        c.control.request_prediction((x,)).add_done_callback(served)
        return result


def _finish(out: np.ndarray, loss: str, pre) -> np.ndarray:
    """The model's raw output as predictions: class probabilities for classifiers, else the data's units."""
    from layerloom.core.predict.models import class_probabilities

    probs = class_probabilities(out, loss)
    if probs is not None:
        return probs.astype(np.float32)
    if pre is not None and pre.facts.get("target"):
        import torch

        out = pre.to_units(torch.from_numpy(np.ascontiguousarray(out, np.float32))).numpy()
    return np.asarray(out, np.float32)


def _is_texts(inputs) -> bool:
    return isinstance(inputs, str) or (isinstance(inputs, list | tuple) and bool(inputs)
                                       and all(isinstance(t, str) for t in inputs))


def _batch(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """One sample or a batch, reshaped to N × shape."""
    size = int(np.prod(shape))
    if x.size == 0 or x.size % size:
        raise PredictionError(f"the model takes samples of {'×'.join(map(str, shape))}; got {x.shape}")
    return x.reshape(-1, *shape)


def _image_batch(x: np.ndarray, shape: tuple[int, ...], image: dict) -> np.ndarray:
    """Images given as the model takes them (flattened, or C×H×W) as N×C×H×W for `prepare`; images of
    other sizes are left as they are (prepare resizes them)."""
    chw = (int(image["channels"]), int(image["height"]), int(image["width"]))
    n = len(shape)
    if x.ndim >= n and tuple(x.shape[x.ndim - n:]) == shape:
        return x.reshape(-1, *chw)
    return x
