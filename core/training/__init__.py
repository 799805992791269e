"""Training: the loop, its events and control, checkpoints, run folders, the `train` command.

    from layerloom.core.training import Trainer, TrainControl, EventBuffer
    buffer, control = EventBuffer(), TrainControl()
    result = Trainer(project, prepared).run(buffer, control)     # in a worker thread for a GUI

See trainer.py for a run and the modules it puts together, loop.py for the epochs, events.py for what the
sink receives, control.py for steering a run.
Names are imported on first use, so that `layerloom.core.training.cli` (registered with the `layerloom`
command) does not import torch when the command line starts.
"""

from __future__ import annotations

_EXPORTS = {
    "Checkpoint": "checkpoint",
    "CheckpointError": "checkpoint",
    "load_checkpoint": "checkpoint",
    "save_checkpoint": "checkpoint",
    "TrainControl": "control",
    "CheckpointSaved": "events",
    "EpochEnd": "events",
    "EventBuffer": "events",
    "Failed": "events",
    "FeatureMaps": "events",
    "RecurrentInside": "events",
    "RecurrentNote": "events",
    "VAELook": "events",
    "GenerativeNote": "events",
    "Finished": "events",
    "GradientStats": "events",
    "RunStarted": "events",
    "StateChanged": "events",
    "Stepped": "events",
    "Steps": "events",
    "TrainResult": "outcome",
    "Trainer": "trainer",
    "TrainingError": "outcome",
    "resolve_device": "device",
}

from layerloom.core.lazy import lazy_exports  # noqa: E402

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
