"""How often the window's live updates come while a run trains, so that the GUI thread takes about
GUI_CPU_BUDGET of a core.

Every bit of the GUI thread's work while training (a drain, the redraws and repaints it causes) runs on a core
the run's threads would use, and torch's threads wait for each other at the end of every parallel operation: on a
2-core machine a millisecond of GUI work cost the run about two. So the updates slow down when they cost more
than the budget and speed up again when they cost less. The drain (the progress bar, samples/s, the events into
the views' buffers) comes at least once a second; a heavy picture (a feature-map mosaic, a VAE's looks, three
curve plots on a small machine) is redrawn less often than that when a redraw a second would cost more.

    pacer = UpdatePacer()
    pacer.start()                      # a run starts at the pace the last run ended with (~30 Hz at first)
    if pacer.tick(pacing=True):        # at each drain; True when the pace changed
        timer.setInterval(pacer.drain_interval_ms); views.set_redraw_gap(pacer.redraw_gap_ms)
        control.set_look_interval(pacer.look_interval_s)   # the run computes no look the buffer would drop
"""

from __future__ import annotations

import time

DRAIN_INTERVAL_MS = 33  # the fastest: ~30 Hz
DRAIN_INTERVAL_MAX_MS = 1000  # the progress and the events come at least once a second
REDRAW_GAP_MAX_MS = 3000  # a live picture is redrawn at least every 3 s while training
# The share of one core the live updates (drains and the redraws and repaints they cause) may take while training:
# 1 % of a core costs a 2-core run about 2 % of its speed (3 % cost it 4-6 %: bench_training_window.py).
GUI_CPU_BUDGET = 0.01


class UpdatePacer:
    """The period of the live updates, from the GUI thread's measured share of a core (smoothed over drains)."""

    def __init__(self):
        self.period_ms = DRAIN_INTERVAL_MS  # how often an update comes (a drain, and a redraw past 1 s)
        self.share = 0.0  # smoothed share of a core the GUI thread used between two drains
        self._clock: tuple[float, float] | None = None  # (wall, GUI-thread CPU) at the last drain

    def start(self) -> None:
        """A run starts. Its updates start at the pace the last run ended with (the same views on the same machine,
        most often): a run that started at ~30 Hz spent its first half second redrawing every view at every drain
        (50–60 ms of the GUI thread while the first epochs trained). The first run starts at ~30 Hz."""
        self._clock = None

    @property
    def drain_interval_ms(self) -> int:
        return min(self.period_ms, DRAIN_INTERVAL_MAX_MS)

    @property
    def redraw_gap_ms(self) -> int:
        """The least time between two redraws of a view while training (0: as soon as the drain brings data)."""
        return self.period_ms if self.period_ms > DRAIN_INTERVAL_MAX_MS else 0

    @property
    def look_interval_s(self) -> float:
        """The least time between two looks the run computes for the views (feature maps, the inside of a
        recurrent block, a VAE's or GAN's looks): one a drain at most, since the event buffer keeps only the latest
        of those that come between two drains. (Not the redraw gap: a GAN's view keeps a point and a strip row of
        every look it is given.)"""
        return self.drain_interval_ms / 1000.0

    def tick(self, pacing: bool) -> bool:
        """Called on the GUI thread at each drain; `pacing` False (loading, idle) only restarts the clock. True
        when the period changed by a fifth or more."""
        now = (time.monotonic(), time.thread_time())
        last, self._clock = self._clock, now
        if last is None or not pacing:
            return False
        wall = now[0] - last[0]
        if wall <= 0:
            return False
        self.share = 0.7 * self.share + 0.3 * (now[1] - last[1]) / wall
        wanted = min(REDRAW_GAP_MAX_MS, max(DRAIN_INTERVAL_MS, self.period_ms * self.share / GUI_CPU_BUDGET))
        if abs(wanted - self.period_ms) < 0.2 * self.period_ms:
            return False
        self.period_ms = round(wanted)
        return True
