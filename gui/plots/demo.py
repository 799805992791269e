"""Synthetic training events that look like a real run: for screenshots, tests and benchmarks.

    python -m layerloom.gui.plots.demo docs/     # renders docs/plots_*.png offscreen (dark palette)
"""

from __future__ import annotations

import sys

import numpy as np

from layerloom.core.training.events import EpochEnd, FeatureMaps, GradientStats, RunStarted, Steps

DIGITS = tuple(str(i) for i in range(10))


def run_started(task: str = "classification", steps_per_epoch: int = 100, epochs: int = 8) -> RunStarted:
    classes = DIGITS if task == "classification" else None
    return RunStarted(run_dir=None, device="cpu", device_name="CPU (2 threads)", precision="fp32", train_size=6400,
                      val_size=1600, param_count=61706, epochs=epochs, start_epoch=0, start_step=0, batch_size=64,
                      steps_per_epoch=steps_per_epoch, task=task,
                      metric="val_accuracy" if classes else "val_loss",
                      num_classes=len(classes) if classes else None, class_names=classes)


def loss_at(step: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    base = 0.08 + 2.2 * np.exp(-step / 180.0) + 0.15 * np.exp(-step / 1500.0)
    return (base * np.exp(rng.normal(0, 0.18, len(step)))).astype(np.float32)


def run_events(epochs: int = 8, steps_per_epoch: int = 100, chunk: int = 10, seed: int = 0,
               confusion: bool = True) -> list:
    """RunStarted, then Steps (chunk steps each), GradientStats and EpochEnd events of a learning classifier."""
    rng = np.random.default_rng(seed)
    events: list = [run_started(steps_per_epoch=steps_per_epoch, epochs=epochs)]
    step = 0
    layers = ("conv2d_1", "conv2d_2", "dense_1", "dense_2", "dense_3")
    for epoch in range(epochs):
        losses = []
        for start in range(0, steps_per_epoch, chunk):
            s = np.arange(step + 1, step + chunk + 1, dtype=np.int64)
            step += chunk
            loss = loss_at(s.astype(np.float64), rng)
            losses.append(loss)
            lr = np.full(chunk, 1e-3 * (0.5 ** (epoch // 3)), np.float32)
            acc = float(np.clip(1.0 - loss.mean() / 2.4 + rng.normal(0, 0.03), 0, 1))
            events.append(Steps(epoch=epoch, step=s, loss=loss, lr=lr, time=s * 0.01, samples_per_s=np.full(
                chunk, 6400.0, np.float32), batch=start + chunk, batches_per_epoch=steps_per_epoch, accuracy=acc,
                eta_s=1.0))
            if (start // chunk) % 3 == 0:
                events.append(gradient_stats(step, epoch, layers, rng))
        mean = float(np.concatenate(losses).mean())
        val_loss = mean * 0.92 + 0.02
        acc = float(np.clip(1.0 - val_loss / 2.6, 0, 0.99))
        conf = confusion_matrix(acc, rng) if confusion else None
        events.append(EpochEnd(epoch=epoch, epochs=epochs, step=step, train_loss=mean, val_loss=val_loss,
                               metrics={"val_accuracy": acc, "train_accuracy": min(0.995, acc + 0.01)},
                               confusion=conf, misclassified=np.arange(0, 24, dtype=np.int64) * 3,
                               lr=float(1e-3 * (0.5 ** (epoch // 3))), seconds=3.0, samples_per_s=6400.0,
                               best=acc, is_best=True))
    return events


def gradient_stats(step: int, epoch: int, layers, rng, vanishing_first: bool = True) -> GradientStats:
    """The first layers' gradients fade (a deep sigmoid stack), the last ones are healthy."""
    depth = np.arange(len(layers))[::-1].astype(np.float64)
    logs = -1.0 - (2.3 * depth if vanishing_first else 0) + rng.normal(0, 0.15, len(layers)) - step / 3000.0
    norms = (10.0 ** logs).astype(np.float32)
    weights = np.full(len(layers), 3.0, np.float32)
    return GradientStats(step=step, epoch=epoch, layers=tuple(layers), grad_norms=norms, weight_norms=weights,
                         vanishing=tuple(n for n, v in zip(layers, norms) if v < 1e-6),
                         exploding=tuple(n for n, v in zip(layers, norms) if v > 1e3))


def confusion_matrix(accuracy: float, rng, n: int = 10, per_class: int = 160) -> np.ndarray:
    conf = np.zeros((n, n), np.int64)
    for t in range(n):
        right = int(per_class * np.clip(accuracy + rng.normal(0, 0.03), 0, 1))
        conf[t, t] = right
        wrong = per_class - right
        likely = [(t + 3) % n, (t + 5) % n, (t * 7 + 1) % n]
        for _ in range(wrong):
            j = likely[rng.integers(0, 3)] if rng.random() < 0.7 else rng.integers(0, n)
            conf[t, j if j != t else (t + 1) % n] += 1
    return conf


def edge_maps(channels: int = 6, size: int = 24, seed: int = 0) -> np.ndarray:
    """C×H×W maps of a digit-like stroke seen through oriented edge detectors (ReLU'd)."""
    img = digit_image(size)
    gy, gx = np.gradient(img)
    rng = np.random.default_rng(seed)
    maps = []
    for c in range(channels):
        a = np.pi * c / channels
        m = np.maximum(0.0, np.cos(a) * gx + np.sin(a) * gy)
        if c % 3 == 2:
            m = np.maximum(0.0, img - 0.4) * (0.6 + 0.4 * np.cos(a))
        maps.append(m + rng.normal(0, 0.01, m.shape))
    return np.asarray(maps, np.float16)


def digit_image(size: int = 28) -> np.ndarray:
    """A soft "7"-ish stroke in [0, 1]."""
    yy, xx = np.mgrid[0:size, 0:size] / (size - 1)
    img = np.zeros((size, size))
    top = np.exp(-((yy - 0.22) ** 2) / 0.004) * ((xx > 0.2) & (xx < 0.8))
    diag = np.exp(-((xx - (0.8 - 0.45 * (yy - 0.22) / 0.6)) ** 2) / 0.004) * ((yy > 0.2) & (yy < 0.85))
    img = np.clip(top + diag, 0, 1)
    return img


def feature_maps(channels: int = 6, size: int = 24, filters: bool = True) -> FeatureMaps:
    w = None
    if filters:
        rng = np.random.default_rng(1)
        k = np.zeros((channels, 1, 5, 5))
        yy, xx = np.mgrid[-2:3, -2:3]
        for c in range(channels):
            a = np.pi * c / channels
            k[c, 0] = np.cos(a) * xx + np.sin(a) * yy + rng.normal(0, 0.3, (5, 5))
        w = (k / 4).astype(np.float16)
    return FeatureMaps(step=420, epoch=4, block="conv2d_1", sample_index=12, maps=edge_maps(channels, size),
                       shape=(channels, size, size), filters=w, label=7)


def hidden_states(steps: int = 40, units: int = 32) -> FeatureMaps:
    t = np.arange(steps)[:, None]
    f = np.arange(units)[None, :]
    h = np.tanh(np.sin(t / (3 + f % 7)) * (1 + f / units) + 0.3 * np.cos(f))
    return FeatureMaps(step=420, epoch=4, block="lstm_1", sample_index=3, maps=h.astype(np.float16),
                       shape=(steps, units), label=1)


WORDS = ("the", "film", "was", "slow", "at", "first", "but", "the", "ending", "was", "wonderful", "and", "i",
         "left", "the", "cinema", "smiling")


def recurrent_inside(kind: str = "lstm", layers: int = 2, bidirectional: bool = True, hidden: int = 24,
                     steps: int = len(WORDS), seed: int = 0):
    """A real `RecurrentInside` of a small word classifier (embedding → `kind` → linear on the last step) on a
    review-like sentence: `look_inside` on seeded weights (an LSTM's forget bias set to keep, as training does),
    so the same every time. `steps` longer than the sentence repeats it."""
    import torch
    from torch import nn

    from layerloom.core.recurrent.inside import look_inside
    from layerloom.core.training.events import RecurrentInside

    vocab = ("<pad>", *sorted(set(WORDS)))
    cls = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[kind]

    class Classifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(len(vocab), 12)
            self.rnn = cls(12, hidden, num_layers=layers, bidirectional=bidirectional, batch_first=True)
            self.head = nn.Linear(hidden * (2 if bidirectional else 1), 2)

        def forward(self, x):
            out = self.rnn(self.embedding(x))[0]
            return self.head(out[:, -1])

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Classifier()
    if kind == "lstm":
        with torch.no_grad():
            for name, p in model.rnn.named_parameters():
                if name.startswith("bias_ih"):
                    p[hidden:2 * hidden] = 1.5  # the forget gate starts open, as trained LSTMs' do
    words = [WORDS[t % len(WORDS)] for t in range(steps)]
    x = torch.tensor([[vocab.index(w) for w in words]])
    look = look_inside(model, "rnn", (x,), torch.tensor([1]), nn.functional.cross_entropy, vocabulary=vocab)
    return RecurrentInside(step=420, epoch=4, block="rnn", sample_index=3, trace=look.trace,
                           gradients=look.gradients, time_labels=look.time_labels, label="positive",
                           gradient_note=look.gradient_note)


def render_recurrent(folder: str) -> list[str]:  # pragma: no cover - a tool
    """docs/recurrent_view.png (a 2-layer bidirectional LSTM) and docs/gradients_through_time.png (a 2-layer
    simple RNN over 60 words, whose gradient fades towards the start), offscreen in the dark palette."""
    import os

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from layerloom.gui import theme
    from layerloom.gui.plots.common import grab_png
    from layerloom.gui.plots.gradients import GradientFlowView
    from layerloom.gui.plots.recurrent import RecurrentView

    app = QApplication.instance() or QApplication(sys.argv)
    theme.apply_theme(app, "dark")
    view = RecurrentView()
    view.resize(1200, 900)
    view.show()
    view.set_block("rnn", "LSTM")
    view.on_event(recurrent_inside())
    view.refresh()
    view.pick_unit(5)
    view.hover_at(10)
    grads = GradientFlowView()
    grads.resize(1200, 460)
    grads.show()
    events = run_events(epochs=2)
    grads.reset(events[0])
    for e in events:
        grads.on_event(e)
    grads.set_block("rnn", "RNN")
    grads.on_event(recurrent_inside("rnn", layers=2, bidirectional=False, hidden=32, steps=60))
    paths = []
    for v, name in ((view, "recurrent_view"), (grads, "gradients_through_time")):
        app.processEvents()
        v.refresh()
        app.processEvents()
        path = os.path.join(folder, f"{name}.png")
        grab_png(v, path)
        paths.append(path)
    return paths


def render_docs(folder: str) -> None:  # pragma: no cover - a tool
    """The docs/plots_*.png screenshots, rendered offscreen in the dark palette."""
    import os

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from layerloom.gui import theme
    from layerloom.gui.plots import ConfusionView, CurvesView, FeatureMapView, GradientFlowView, PredictionView

    app = QApplication.instance() or QApplication(sys.argv)
    theme.apply_theme(app, "dark")
    events = run_events()
    shots = []
    curves = CurvesView()
    curves.resize(900, 560)
    grads = GradientFlowView()
    grads.resize(900, 420)
    conf = ConfusionView()
    conf.resize(900, 520)
    conf.set_validation_samples(demo_images(80), [i % 10 for i in range(80)], list(DIGITS))
    for v in (curves, grads, conf):
        v.show()
        v.reset(events[0])  # the RunStarted, as the training controller does
        for e in events:
            v.on_event(e)
        v.refresh()
    curves.hover_at(560)
    feats = FeatureMapView()
    feats.resize(900, 520)
    feats.show()
    feats.set_block("conv2d_1", "Conv2d")
    feats.on_event(feature_maps())
    feats.refresh()
    pred = PredictionView()
    pred.resize(900, 420)
    pred.show()
    pred.reset(events[0])
    pred.set_predictor(DemoPredictor((1, 28, 28)))
    pred.draw_demo_digit()
    shots = [(curves, "curves"), (grads, "gradients"), (conf, "confusion"), (feats, "features"),
             (pred, "prediction")]
    app.processEvents()
    from layerloom.gui.plots.common import grab_png

    for view, name in shots:
        view.refresh()
        app.processEvents()
        grab_png(view, os.path.join(folder, f"plots_{name}.png"))


def demo_images(n: int, size: int = 28) -> list[np.ndarray]:
    rng = np.random.default_rng(5)
    base = digit_image(size)
    out = []
    for _i in range(n):
        img = np.roll(base, (int(rng.integers(-3, 4)), int(rng.integers(-3, 4))), axis=(0, 1))
        img = np.clip(img + rng.normal(0, 0.05, img.shape), 0, 1)
        out.append((img * 255).astype(np.uint8))
    return out


class FakePredictor:
    """A stand-in for the controller's predictor: softmax of a fixed random projection of the input."""

    def __init__(self, input_shape, num_classes: int = 10, seed: int = 0):
        self.input_shape = tuple(input_shape)
        rng = np.random.default_rng(seed)
        self.w = rng.normal(0, 1, (int(np.prod(self.input_shape)), num_classes)).astype(np.float32)
        self.calls: list[np.ndarray] = []

    def predict(self, inputs: np.ndarray) -> np.ndarray:
        x = np.asarray(inputs, np.float32)
        assert x.shape[1:] == self.input_shape, (x.shape, self.input_shape)
        self.calls.append(x)
        z = x.reshape(len(x), -1) @ self.w
        z = z - z.max(1, keepdims=True)
        e = np.exp(z * 0.5)
        return e / e.sum(1, keepdims=True)


class DemoPredictor(FakePredictor):
    """Says "7" with a plausible spread (for the screenshot)."""

    def predict(self, inputs: np.ndarray) -> np.ndarray:
        super().predict(inputs)
        p = np.array([0.004, 0.061, 0.012, 0.018, 0.006, 0.003, 0.001, 0.872, 0.009, 0.014])
        return np.tile(p / p.sum(), (len(inputs), 1))


if __name__ == "__main__":  # pragma: no cover
    render_docs(sys.argv[1] if len(sys.argv) > 1 else "docs")
