"""RunPosition: where a run is, through a checkpoint's metadata and back, and through a real stop and resume."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from data_fixtures import small_classification

from layerloom.core import Graph
from layerloom.core.settings import TrainingSettings
from layerloom.core.training import TrainControl, Trainer, load_checkpoint, save_checkpoint
from layerloom.core.training import events as ev
from layerloom.core.training.state import RunPosition


def test_a_position_goes_through_a_checkpoint_file_and_comes_back_the_same(tmp_path):
    before = RunPosition(epoch=3, epochs_done=3, step=57, best=0.25, best_epoch=1, bad_epochs=2,
                         final={"train_loss": 0.5, "val_loss": float("nan"), "val_accuracy": None},
                         train_time=1.5, train_samples=912)
    path = str(tmp_path / "last.safetensors")
    save_checkpoint(path, model_state={"w": torch.zeros(2)}, meta=before.to_meta(epochs_done=3, batch=4))
    after = RunPosition()
    after.load_meta(load_checkpoint(path).meta, steps_per_epoch=10)
    assert (after.epoch, after.epochs_done, after.step, after.skip) == (3, 3, 57, 4)
    assert (after.best, after.best_epoch, after.bad_epochs) == (0.25, 1, 2)
    assert (after.train_time, after.train_samples) == (1.5, 912)
    assert after.final["train_loss"] == 0.5 and after.final["val_accuracy"] is None
    assert math.isnan(after.final["val_loss"])


def test_a_checkpoint_after_an_epochs_last_batch_resumes_at_the_next_epoch():
    position = RunPosition()
    position.load_meta({"epoch": 2, "batch": 10, "step": 20}, steps_per_epoch=10)
    assert (position.epoch, position.skip, position.step) == (2, 0, 20)
    assert position.best is None and position.best_epoch is None and position.final == {}


@pytest.mark.parametrize("meta", [{"epoch": -1}, {"step": 1.5}, {"batch": True}, {"bad_epochs": "2"},
                                  {"final": [1, 2]}])
def test_a_damaged_position_is_refused(meta):
    with pytest.raises(ValueError):
        RunPosition().load_meta(meta, steps_per_epoch=10)


def test_the_best_metric_counts_epochs_without_improvement():
    position = RunPosition(epoch=0)
    assert position.improved(0.5, "min") and (position.best, position.best_epoch, position.bad_epochs) == (0.5, 0, 0)
    position.epoch = 1
    assert not position.improved(0.6, "min") and position.bad_epochs == 1
    position.epoch = 2
    assert position.improved(0.4, "min") and (position.best, position.best_epoch, position.bad_epochs) == (0.4, 2, 0)
    maximise = RunPosition()
    assert maximise.improved(0.7, "max") and not maximise.improved(0.6, "max") and maximise.best == 0.7


def _graph():
    g = Graph()
    ids = [g.add("Input", shape=[8]), g.add("Dense", out_features=16), g.add("ReLU"),
           g.add("Dense", out_features=3), g.add("Output", loss="cross_entropy")]
    for a, b in itertools.pairwise(ids):
        g.connect(a, b)
    return g


def test_a_stopped_runs_checkpoint_holds_the_position_the_run_reported(tmp_path):
    settings = TrainingSettings(epochs=4, batch_size=16, device="cpu", threads=1, seed=3)
    control = TrainControl()
    steps = []

    def sink(event):
        if isinstance(event, ev.Steps):
            steps.extend(int(s) for s in event.step)
            if steps[-1] >= 9:
                control.stop()

    trainer = Trainer(_graph(), small_classification(), settings=settings, run_root=str(tmp_path), event_interval=0.0)
    result = trainer.run(sink, control)
    assert result.status == "stopped" and result.step == 10
    position = RunPosition()
    position.load_meta(load_checkpoint(result.checkpoint).meta, steps_per_epoch=6)
    assert (position.step, position.epochs_done, position.skip) == (10, 1, 4)  # 6 steps an epoch: 1 epoch + 4
    assert position.best_epoch == 0 and position.final.keys() >= {"train_loss", "val_loss", "val_accuracy"}

    resumed = []
    again = Trainer(_graph(), small_classification(), settings=settings, run_root=str(tmp_path), resume=result.run_dir)
    assert again.run(resumed.append).status == "finished"
    started = resumed[0]
    assert (started.start_epoch, started.start_step) == (1, 10)
