"""The trained model an export starts from (a `Source`): a project, its weights and what is known of its
training. Opening one from a run folder or a bundle is `core/export/reading.py`'s job.

    source = source_from(project, state)     # a project (or a bare Graph) and a state dict
    source.live_model()                      # the compiled graph with these weights, in evaluation mode
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from layerloom.core.export.base import CHECK_BATCH


@dataclass(eq=False)
class Source:
    """A project with trained weights, and what is known of its training.

    state:       the model's state dict (names as the compiled graph's: `conv2d_1.weight`)
    history:     the epoch records the weights went through (epochs.jsonl up to the weights' epoch), oldest first
    settings:    the resolved settings of the run (settings.json), {} when unknown
    checkpoint:  the bytes of the training checkpoint the weights come from (model, optimizer, position), so a
                 bundle resumes training exactly from them; None when there is none
    preprocessing: raw data → model input as trained (a `Preprocessing`), None when unknown
    weights:     which checkpoint the weights are: {"checkpoint": "best", "file", "epoch", "batch", "step",
                 "metric", "value"} (epoch: whole epochs they hold); {} when unknown
    """

    project: Any
    state: dict
    history: list[dict] = field(default_factory=list)
    settings: dict = field(default_factory=dict)
    checkpoint: bytes | None = None
    path: str | None = None
    kind: str = "live"  # "run", "bundle" or "live"
    weights_from: str = ""
    preprocessing: Any = None
    weights: dict = field(default_factory=dict)
    _model: Any = None

    @property
    def graph(self):
        return self.project.graph

    @property
    def part(self) -> str:
        """ "model" (the whole graph), "decoder" (a VAE's decoder alone) or "generator" (a GAN's generator alone):
        core/export/decoder.py records it in the project's meta, so a reopened bundle of a part says so too."""
        return self.project.meta.get("part", "model")

    @property
    def name(self) -> str:
        return self.project.name or (os.path.basename(os.path.normpath(self.path)) if self.path else "model")

    def sample_inputs(self, batch: int | None = None, seed: int = 1234, sizes: dict | None = None) -> tuple:
        """Random inputs the live model takes (for tracing and parity checks)."""
        from layerloom.core.export.parity import sample_inputs

        return sample_inputs(self.graph, CHECK_BATCH if batch is None else batch, seed, sizes)

    def live_model(self):
        """The compiled graph with these weights, in evaluation mode (built once)."""
        if self._model is None:
            from layerloom.core.export.weights import apply_weights, compile_for_weights

            model = compile_for_weights(self.graph, seed=0)
            apply_weights(model, self.state, strict=True)
            self._model = model.eval()
        return self._model


def source_from(project, state: dict | None = None, **kw) -> Source:
    """A Source for a project (or a bare Graph) and weights; fresh weights (seed 0) when `state` is None."""
    from layerloom.core.graph import Graph

    if isinstance(project, Graph):
        from layerloom.core.project import Project

        project = Project(project)
    if state is None:
        from layerloom.core.compiler import build_model

        state = build_model(project.graph, seed=0).state_dict()
    return Source(project, {k: v.detach() for k, v in state.items()}, **kw)


def history_of_weights(history: list[dict], epochs: int | None) -> list[dict]:
    """The epoch records that weights holding `epochs` whole epochs went through (all when unknown): a log
    that ran on past its checkpoint (a killed run) says nothing about these weights."""
    if epochs is None:
        return list(history)
    kept = []
    for i, record in enumerate(history):
        epoch = record.get("epoch", i)
        if isinstance(epoch, int) and not isinstance(epoch, bool) and epoch < epochs:
            kept.append(record)
    return kept
