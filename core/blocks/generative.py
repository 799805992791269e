"""Generative blocks: Sample draws a VAE's latent code from a mean and a log-variance (its torch module,
`SampleModule`, lives in sample_module.py, imported when a model is built, not at start-up); Noise is where a
GAN's generator starts (random numbers the GAN recipe draws, see core/gan.py)."""

from __future__ import annotations

from layerloom.core.blocks.registry import register
from layerloom.core.blocks.spec import (
    FLOAT,
    BlockProblem,
    BlockSpec,
    Inferred,
    ParamSpec,
    PortSpec,
    TensorSpec,
    fmt_shape,
)


def _sample_infer(p, inputs):
    mean, log_var = inputs
    if mean.shape != log_var.shape:
        raise BlockProblem(
            f"gets a mean of shape {fmt_shape(mean.shape)} and a log-variance of shape {fmt_shape(log_var.shape)}; "
            "they must have the same shape (give both heads the same width)"
        )
    if mean.dtype != FLOAT or log_var.dtype != FLOAT:
        raise BlockProblem("needs numbers for its mean and log-variance, not token ids; put a Dense layer first")
    return Inferred(mean)


def _sample_build(p, inputs):
    from layerloom.core.blocks.sample_module import SampleModule

    return SampleModule(p["beta"])


register(
    BlockSpec(
        type_id="Sample",
        category="Merge",
        summary="Draws a VAE's latent code z from a mean and a log-variance (the reparameterization trick).",
        help=(
            "Sample is the middle of a variational autoencoder. The encoder does not give one code for an "
            "input but a distribution over codes: a mean and a log-variance (the log of the spread), one value "
            "per latent dimension, from two heads of the same width. While training, Sample draws a code from "
            "that distribution as z = mean + exp(½·log_var)·ε, with ε random from a standard normal: the "
            "randomness sits in ε, so the gradient still flows back to the mean and the log-variance. The "
            "loss gets a second term, the KL divergence of the distribution from a standard normal, weighted "
            "by beta: it keeps the codes near the origin and the latent space smooth, so that decoding any "
            "point near the origin gives a plausible sample. In evaluation and export Sample is "
            "deterministic: z is the mean.\n\nInputs: mean, then log_var (same shape).\n\n"
            "Parameters: none (0); beta only weights the KL term."
        ),
        infer=_sample_infer,
        build=_sample_build,
        params=(ParamSpec("beta", "float", 1.0, "Weight of the KL term in the loss (0: a plain autoencoder).",
                          min=0.0),),
        inputs=(PortSpec("mean"), PortSpec("log_var")),
        min_inputs=2,
        name_base="sample",
        key_params=("beta",),
    )
)


def _noise_infer(p, inputs):
    return Inferred(TensorSpec(tuple(p["shape"]), FLOAT))


register(
    BlockSpec(
        type_id="Noise",
        category="Inputs",
        summary="Random numbers that a GAN's generator turns into samples.",
        help=(
            "Noise starts the generator of a generative adversarial network (GAN). It has no data: at every "
            "training step the GAN recipe draws a batch of vectors from a standard normal distribution, and the "
            "generator — the blocks after Noise, ending in an Output — turns each into a sample. The blocks that "
            "are not after Noise form the discriminator: an Input that takes real samples (its shape must be "
            "the generator's output shape), ending in an Output with one number per sample, the logit that the "
            "sample is real. The recipe trains the two against each other: the discriminator to tell real from "
            "generated, the generator to fool it. The canvas frames and labels the two networks.\n\n"
            "Shape: the size of one noise vector, the latent space (64 is usual).\n\n"
            "Parameters: none are learned (0)."
        ),
        infer=_noise_infer,
        params=(ParamSpec("shape", "shape", [64], "Size of one noise vector (the latent space), batch left out."),),
        inputs=(),
        min_inputs=0,
        name_base="noise",
        key_params=("shape",),
    )
)
