"""The live updates' pace while training (gui/training/pacing.py): slower when they cost the GUI thread more than
its budget, and a run starts at the pace the last one ended with."""

from __future__ import annotations

import time

from layerloom.gui.training.pacing import (
    DRAIN_INTERVAL_MAX_MS,
    DRAIN_INTERVAL_MS,
    REDRAW_GAP_MAX_MS,
    UpdatePacer,
)


def _busy(seconds: float) -> None:
    end = time.thread_time() + seconds
    while time.thread_time() < end:  # GUI-thread work between two drains
        pass


def test_costly_updates_slow_down_to_a_drain_a_second_and_redraws_every_few_seconds():
    pacer = UpdatePacer()
    pacer.start()
    assert (pacer.drain_interval_ms, pacer.redraw_gap_ms) == (DRAIN_INTERVAL_MS, 0)
    assert not pacer.tick(True)  # the first drain only starts the clock
    changes = 0
    for _ in range(4):
        _busy(0.03)
        changes += pacer.tick(True)
    assert changes >= 2 and pacer.period_ms == REDRAW_GAP_MAX_MS
    assert pacer.drain_interval_ms == DRAIN_INTERVAL_MAX_MS and pacer.redraw_gap_ms == REDRAW_GAP_MAX_MS
    assert pacer.look_interval_s == DRAIN_INTERVAL_MAX_MS / 1000  # a look a drain at most


def test_the_next_run_starts_at_the_pace_the_last_one_ended_with():
    pacer = UpdatePacer()
    pacer.start()
    pacer.tick(True)
    for _ in range(4):
        _busy(0.03)
        pacer.tick(True)
    pacer.start()
    assert pacer.period_ms == REDRAW_GAP_MAX_MS and pacer.share > 0.1
    _busy(0.03)
    assert not pacer.tick(True)  # the clock started again: the time between the runs is not measured


def test_loading_and_idle_drains_are_not_paced():
    pacer = UpdatePacer()
    pacer.start()
    for _ in range(4):
        _busy(0.03)
        assert not pacer.tick(False)
    assert pacer.period_ms == DRAIN_INTERVAL_MS and pacer.share == 0.0
