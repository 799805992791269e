"""Generate the project templates (the *.json files of `layerloom.resources`) with the Graph API.

    python -m layerloom.core.templates_build          # write every template into resources/templates/
    python -m layerloom.core.templates_build --check  # exit 1 if a file differs from what it would write

The JSON files are the source of truth users open; this module is how they were made, so a change to a
template is a change here followed by a run (and a look at the diff).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from layerloom.core import Graph, infer
from layerloom.core.layout import layered_positions
from layerloom.core.project import Project, save_project
from layerloom.core.settings import DataSettings, TrainingSettings
from layerloom.resources import template_folder

WRAP_COLUMNS = 8  # long chains wrap into bands, so a network fits a window at a readable zoom

Layer = tuple[str, dict[str, Any]] | tuple[str, dict[str, Any], str]


def chain(g: Graph, start: str | None, layers: list[Layer]) -> str:
    """Add `layers` one after the other (type, params[, name]), the first fed by `start`; the last id."""
    prev = start
    for layer in layers:
        type_id, params = layer[0], layer[1]
        name = layer[2] if len(layer) > 2 else None
        nid = g.add(type_id, name=name, **params)
        if prev is not None:
            g.connect(prev, nid)
        prev = nid
    assert prev is not None
    return prev


def conv_bn_relu(channels: int, kernel: int = 3, padding: int = 1, **extra: Any) -> list[Layer]:
    return [("Conv2d", {"out_channels": channels, "kernel_size": kernel, "padding": padding, "bias": False,
                        **extra}), ("BatchNorm", {}), ("ReLU", {})]


def finish(g: Graph, title: str, description: str, data: DataSettings, training: TrainingSettings) -> Project:
    for nid, pos in layered_positions(g, max_columns=WRAP_COLUMNS).items():
        g.move(nid, pos)
    report = infer(g)
    if not report.ok or report.warnings:
        lines = "\n".join(p.message for p in report.problems)
        raise SystemExit(f"template {title!r} has problems:\n{lines}")
    return Project(g, training=training, data=data, meta={"name": title, "description": description})


# --- the templates ------------------------------------------------------------------------------


def mlp() -> Project:
    g = Graph()
    chain(g, None, [
        ("Input", {"shape": [64]}, "pixels"),
        ("Dense", {"out_features": 128}, "hidden1"), ("ReLU", {}),
        ("Dense", {"out_features": 64}, "hidden2"), ("ReLU", {}),
        ("Dense", {"out_features": 10}, "logits"),
        ("Output", {"loss": "cross_entropy"}, "digit"),
    ])
    return finish(
        g, "Multilayer perceptron",
        "A multilayer perceptron: 8×8 digit images as 64 numbers, two hidden layers, 10 classes.",
        DataSettings("digits", {"flatten": True}),
        TrainingSettings(epochs=30, batch_size=32, lr=1e-3),
    )


def lenet5() -> Project:
    g = Graph()
    chain(g, None, [
        ("Input", {"shape": [1, 28, 28]}, "image"),
        ("Conv2d", {"out_channels": 6, "kernel_size": 5, "padding": 2}, "conv1"), ("ReLU", {}),
        ("MaxPool2d", {"kernel_size": 2}, "pool1"),
        ("Conv2d", {"out_channels": 16, "kernel_size": 5}, "conv2"), ("ReLU", {}),
        ("MaxPool2d", {"kernel_size": 2}, "pool2"),
        ("Flatten", {}),
        ("Dense", {"out_features": 120}, "fc1"), ("ReLU", {}),
        ("Dense", {"out_features": 84}, "fc2"), ("ReLU", {}),
        ("Dense", {"out_features": 10}, "logits"),
        ("Output", {"loss": "cross_entropy"}, "digit"),
    ])
    return finish(
        g, "LeNet-5",
        "LeNet-5 (LeCun et al., 1998): two convolution-pooling stages and three dense layers for 28×28 digits.",
        DataSettings("digits", {"resize": [28, 28]}),
        TrainingSettings(epochs=10, batch_size=64, lr=1e-3),
    )


def vgg_mini() -> Project:
    g = Graph()
    layers: list[Layer] = [("Input", {"shape": [3, 32, 32]}, "image")]
    for channels in (32, 64, 128):
        layers += conv_bn_relu(channels) + conv_bn_relu(channels) + [("MaxPool2d", {"kernel_size": 2})]
    layers += [
        ("Flatten", {}),
        ("Dropout", {"p": 0.5}), ("Dense", {"out_features": 256}, "fc"), ("ReLU", {}),
        ("Dropout", {"p": 0.5}), ("Dense", {"out_features": 10}, "logits"),
        ("Output", {"loss": "cross_entropy"}, "label"),
    ]
    chain(g, None, layers)
    return finish(
        g, "Mini VGG",
        "A small VGG: three stacks of two 3×3 convolutions with BatchNorm, then pooling; 32×32 colour images.",
        DataSettings("cifar10"),
        TrainingSettings(epochs=30, batch_size=128, optimizer="sgd", lr=0.05, momentum=0.9, nesterov=True,
                         weight_decay=5e-4, scheduler="cosine", init="kaiming"),
    )


def resnet_mini() -> Project:
    g = Graph()
    stem = chain(g, None, [("Input", {"shape": [3, 32, 32]}, "image"), *conv_bn_relu(16)])
    blocks = [(16, 1), (16, 1), (32, 2), (32, 1), (64, 2), (64, 1)]
    layers: list[Layer] = [("Residual", {"out_channels": c, "stride": s}) for c, s in blocks]
    layers += [("GlobalAvgPool", {}), ("Dense", {"out_features": 10}, "logits"),
               ("Output", {"loss": "cross_entropy"}, "label")]
    chain(g, stem, layers)
    return finish(
        g, "Mini ResNet",
        "A small ResNet: a 3×3 stem and six residual blocks (two of them halve the map) for 32×32 colour images.",
        DataSettings("cifar10"),
        TrainingSettings(epochs=30, batch_size=128, optimizer="sgd", lr=0.1, momentum=0.9, weight_decay=5e-4,
                         scheduler="cosine", init="kaiming"),
    )


def inception_mini() -> Project:
    g = Graph()
    chain(g, None, [
        ("Input", {"shape": [3, 32, 32]}, "image"),
        *conv_bn_relu(64),
        ("MaxPool2d", {"kernel_size": 2}),
        ("Inception", {"ch1x1": 32, "ch3x3red": 48, "ch3x3": 64, "ch5x5red": 8, "ch5x5": 16, "pool_proj": 16},
         "inception_a"),
        ("Inception", {"ch1x1": 64, "ch3x3red": 64, "ch3x3": 96, "ch5x5red": 16, "ch5x5": 48, "pool_proj": 32},
         "inception_b"),
        ("MaxPool2d", {"kernel_size": 2}),
        ("Inception", {"ch1x1": 96, "ch3x3red": 48, "ch3x3": 104, "ch5x5red": 8, "ch5x5": 24, "pool_proj": 32},
         "inception_c"),
        ("GlobalAvgPool", {}),
        ("Dropout", {"p": 0.3}),
        ("Dense", {"out_features": 10}, "logits"),
        ("Output", {"loss": "cross_entropy"}, "label"),
    ])
    return finish(
        g, "Mini Inception",
        "A small GoogLeNet: a stem and three Inception blocks (1×1, 3×3, 5×5 and pooling branches side by side).",
        DataSettings("cifar10"),
        TrainingSettings(epochs=30, batch_size=128, optimizer="adam", lr=1e-3, weight_decay=1e-4,
                         scheduler="cosine"),
    )


def cnn1d_sequence() -> Project:
    g = Graph()
    layers: list[Layer] = [("Input", {"shape": [1, 128]}, "waveform")]
    for channels, kernel in ((16, 5), (32, 5), (64, 3)):
        layers += [("Conv1d", {"out_channels": channels, "kernel_size": kernel, "padding": kernel // 2}),
                   ("BatchNorm", {}), ("ReLU", {}), ("MaxPool1d", {"kernel_size": 2})]
    layers += [("GlobalAvgPool", {}), ("Dense", {"out_features": 4}, "logits"),
               ("Output", {"loss": "cross_entropy"}, "label")]
    chain(g, None, layers)
    return finish(
        g, "1-D CNN for signals",
        "A 1-D convolutional network that tells waveform shapes apart from 128 samples of signal.",
        DataSettings("synthetic_waveforms"),
        TrainingSettings(epochs=15, batch_size=64, lr=1e-3),
    )


def lstm_text() -> Project:
    g = Graph()
    chain(g, None, [
        ("Input", {"shape": [64], "dtype": "int64"}, "tokens"),
        ("Embedding", {"num_embeddings": 5000, "embedding_dim": 64}, "embedding"),
        ("LSTM", {"hidden_size": 64}, "lstm"),
        ("Dense", {"out_features": 2}, "logits"),
        ("Output", {"loss": "cross_entropy"}, "sentiment"),
    ])
    return finish(
        g, "LSTM text classifier",
        "An LSTM text classifier: 64 token ids, a learned word embedding, the LSTM's last state, two classes.",
        DataSettings("synthetic_text"),
        TrainingSettings(epochs=10, batch_size=64, lr=2e-3, grad_clip=1.0),
    )


def bigru_sequence() -> Project:
    g = Graph()
    chain(g, None, [
        ("Input", {"shape": [50, 8]}, "sequence"),
        ("GRU", {"hidden_size": 64, "num_layers": 2, "bidirectional": True, "dropout": 0.2}, "bigru"),
        ("Dropout", {"p": 0.2}),
        ("Dense", {"out_features": 4}, "logits"),
        ("Output", {"loss": "cross_entropy"}, "label"),
    ])
    return finish(
        g, "Bidirectional GRU",
        "A 2-layer bidirectional GRU that reads 50 steps of 8 features both ways and classifies the sequence.",
        DataSettings("synthetic_sequences"),
        TrainingSettings(epochs=15, batch_size=64, lr=1e-3, grad_clip=1.0),
    )


def gru_timeseries() -> Project:
    g = Graph()
    chain(g, None, [
        ("Input", {"shape": [30, 1]}, "window"),
        ("GRU", {"hidden_size": 32}, "gru"),
        ("Dense", {"out_features": 1}, "forecast"),
        ("Output", {"loss": "mse"}, "next_value"),
    ])
    return finish(
        g, "GRU forecaster",
        "A GRU that reads the last 30 values of a series and predicts the next one (regression, MSE loss).",
        DataSettings("sine", {"window": 30, "horizon": 1}),
        TrainingSettings(epochs=20, batch_size=32, lr=3e-3, grad_clip=1.0),
    )


LONG_MEMORY_LESSON = (
    "The label is the first of 50 words; the other 49 are noise.\n"
    "1. Train. This simple RNN stays near 50% (chance).\n"
    "2. Select the RNN block and open the Gradients tab: the gradient-through-time line falls toward the first "
    "steps, so almost nothing of the label's signal reaches the first word.\n"
    "3. Right-click the RNN → Replace With → LSTM (wires and hidden size stay), then in the Inspector set "
    "forget_bias to 5: the forget gates start at sigmoid(5) ≈ 0.99, open. (The default 1 starts them at 0.73, "
    "and 0.73 multiplied over 49 steps is about 0: that LSTM forgets too.)\n"
    "4. Train again: accuracy climbs to 100% within a few epochs.\n"
    "5. Select the LSTM and open the Inside RNN tab: its forget gate stays near 1 at every step, so the cell "
    "keeps the first word to the end. (A GRU learns it too.)")


def rnn_long_memory() -> Project:
    g = Graph()
    chain(g, None, [
        ("Input", {"shape": [50], "dtype": "int64"}, "words"),
        ("Embedding", {"num_embeddings": 7, "embedding_dim": 128}, "embedding"),
        ("RNN", {"hidden_size": 32}, "rnn"),
        ("Dense", {"out_features": 2}, "logits"),
        ("Output", {"loss": "cross_entropy"}, "first_word"),
    ])
    project = finish(
        g, "Why gated RNNs exist",
        "Long memory: a simple RNN fails, an LSTM learns. The label is the 1st of 50 words; swap the RNN for an LSTM.",
        DataSettings("long_memory"),
        TrainingSettings(epochs=10, batch_size=32, lr=3e-3, grad_clip=1.0),
    )
    project.meta["lesson"] = LONG_MEMORY_LESSON
    return project


def conv_autoencoder() -> Project:
    g = Graph()
    chain(g, None, [
        ("Input", {"shape": [1, 28, 28]}, "image"),
        ("Conv2d", {"out_channels": 16, "kernel_size": 3, "padding": 1}, "enc_conv1"), ("ReLU", {}),
        ("MaxPool2d", {"kernel_size": 2}, "enc_pool1"),
        ("Conv2d", {"out_channels": 8, "kernel_size": 3, "padding": 1}, "enc_conv2"), ("ReLU", {}),
        ("MaxPool2d", {"kernel_size": 2}, "bottleneck"),
        ("ConvTranspose2d", {"out_channels": 16, "kernel_size": 2, "stride": 2}, "dec_up1"), ("ReLU", {}),
        ("ConvTranspose2d", {"out_channels": 1, "kernel_size": 2, "stride": 2}, "dec_up2"),
        ("Sigmoid", {}),
        ("Output", {"loss": "mse"}, "reconstruction"),
    ])
    return finish(
        g, "Convolutional autoencoder",
        "A convolutional autoencoder: squeezes 28×28 digits into an 8×7×7 code and rebuilds them.",
        DataSettings("digits", {"resize": [28, 28], "task": "reconstruction", "normalize": False}),
        TrainingSettings(epochs=20, batch_size=64, lr=1e-3),
    )


def vae_digits() -> Project:
    g = Graph()
    hidden = chain(g, None, [
        ("Input", {"shape": [1, 28, 28]}, "image"), ("Flatten", {}),
        ("Dense", {"out_features": 256}, "enc_hidden"), ("ReLU", {}),
    ])
    mean = chain(g, hidden, [("Dense", {"out_features": 2}, "mean")])
    log_var = chain(g, hidden, [("Dense", {"out_features": 2}, "log_var")])
    z = g.add("Sample", name="z", beta=VAE_BETA)
    g.connect(mean, (z, "mean"))
    g.connect(log_var, (z, "log_var"))
    chain(g, z, [
        ("Dense", {"out_features": 256}, "dec_hidden"), ("ReLU", {}),
        ("Dense", {"out_features": 784}, "dec_pixels"), ("Sigmoid", {}),
        ("Reshape", {"shape": [1, 28, 28]}),
        ("Output", {"loss": "mse"}, "reconstruction"),
    ])
    return finish(
        g, "Variational autoencoder, digits",
        "A variational autoencoder: 28×28 digits as a 2-D latent distribution, sampled and decoded back.",
        DataSettings("digits", {"resize": [28, 28], "task": "reconstruction", "normalize": False}),
        TrainingSettings(epochs=30, batch_size=64, lr=1e-3),
    )


def dcgan_digits() -> Project:
    g = Graph()
    chain(g, None, [
        ("Noise", {"shape": [64]}, "noise"),
        ("Dense", {"out_features": 64 * 7 * 7}, "g_project"), ("BatchNorm", {}), ("ReLU", {}),
        ("Reshape", {"shape": [64, 7, 7]}),
        ("ConvTranspose2d", {"out_channels": 32, "kernel_size": 4, "stride": 2, "padding": 1}, "g_up1"),
        ("BatchNorm", {}), ("ReLU", {}),
        ("ConvTranspose2d", {"out_channels": 1, "kernel_size": 4, "stride": 2, "padding": 1}, "g_up2"),
        ("Sigmoid", {}),
        ("Output", {"loss": "mse"}, "fake"),
    ])
    chain(g, None, [
        ("Input", {"shape": [1, 28, 28]}, "image"),
        ("Conv2d", {"out_channels": 32, "kernel_size": 4, "stride": 2, "padding": 1}, "d_conv1"),
        ("LeakyReLU", {"negative_slope": 0.2}),
        ("Conv2d", {"out_channels": 64, "kernel_size": 4, "stride": 2, "padding": 1}, "d_conv2"),
        ("BatchNorm", {}), ("LeakyReLU", {"negative_slope": 0.2}),
        ("Flatten", {}), ("Dense", {"out_features": 1}, "d_logit"),
        ("Output", {"loss": "bce_with_logits"}, "real"),
    ])
    return finish(
        g, "DCGAN, digits",
        "A GAN: a generator turns 64 random numbers into 28×28 digits, a discriminator tells them from real ones.",
        DataSettings("digits", {"resize": [28, 28], "task": "classification", "normalize": False}),
        TrainingSettings(epochs=30, batch_size=64, lr=2e-4, discriminator_lr=2e-4, beta1=0.5),
    )


# The mse loss is a mean over 784 pixels, the KL a sum over the latent dimensions: β = 1/784·(a few) puts the
# two on the scale of the textbook VAE (a sum over pixels plus the KL), so the KL does not flatten the codes.
VAE_BETA = 0.002


TEMPLATES: dict[str, Callable[[], Project]] = {
    f.__name__: f
    for f in (mlp, lenet5, vgg_mini, resnet_mini, inception_mini, cnn1d_sequence, lstm_text, bigru_sequence,
              gru_timeseries, rnn_long_memory, conv_autoencoder, vae_digits, dcgan_digits)
}


def main(argv: list[str] | None = None) -> int:
    """Write every template (or with --check, only compare); the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 if a file would change")
    parser.add_argument("--out", type=Path, default=None,
                        help="folder to write to (default: resources/templates/ of this installation)")
    args = parser.parse_args(argv)
    out = args.out if args.out is not None else Path(str(template_folder()))
    stale = []
    for name, make in TEMPLATES.items():
        project = make()
        path = out / f"{name}.json"
        if args.check:
            old = path.read_text(encoding="utf-8") if path.exists() else None
            if old != project.to_json():
                stale.append(name)
        else:
            save_project(project, path)
            print(f"wrote {path}  ({infer(project.graph).total_params:,} parameters)")
    if stale:
        print(f"out of date: {', '.join(stale)} (run python -m layerloom.core.templates_build)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
