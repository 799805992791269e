"""The Curves view's axes follow a run without moving at every update: the step axis spans a short run's whole plan
and widens a long one's in a few jumps up to its end, the value axes start at 0 and end at round numbers; a zoom or
pan by the user stops that axis following, pyqtgraph's "A" button gives it back, and a finished run's step axis ends
at its last step."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from windows import shown

from layerloom.core.training.events import Finished, RunStarted, Steps
from layerloom.gui.plots import demo
from layerloom.gui.plots.curves import CurvesView
from layerloom.gui.plots.follow_range import coarse_ceil, nice_ceil, step_span, symmetric_span, value_span


def _view(qtbot):
    return shown(qtbot, CurvesView, 900, 600)


def _feed(view, events):
    """What the training controller does: a RunStarted resets the view, everything else is an event."""
    for e in events:
        if isinstance(e, RunStarted):
            view.reset(e)
        else:
            view.on_event(e)


def _ranges(view):
    return [tuple(round(v, 9) for v in p.vb.viewRange()[axis])
            for p in (view.loss_plot, view.metric_plot, view.lr_plot) for axis in (0, 1)]


def test_nice_numbers_and_spans():
    assert [nice_ceil(x) for x in (2.31, 0.0031, 1.0, 7.2, 95.0, 1e-3)] == pytest.approx(
        [2.5, 0.004, 1.0, 8.0, 100.0, 1e-3])
    assert step_span(450, 1.0, 120.0) == (0.0, 450.0)  # a short run: its whole plan from the start
    assert step_span(450, 1.0, 460.0) == (0.0, 1000.0)  # past the plan: round numbers again
    assert step_span(4500, 1.0, 1200.0) == (0.0, 2000.0)  # a long run: a round number 10 % or more past the last step
    assert step_span(4500, 1.0, 1900.0) == (0.0, 4500.0)  # its last stretch: to the planned end
    assert step_span(2300, 301.0, 340.0) == (301.0, 2300.0)  # a resumed run's plan: 2,000 steps from where it starts
    assert step_span(None, 301.0, 340.0) == (301.0, 500.0)  # a resumed run's curve starts where it does
    assert [coarse_ceil(x) for x in (3.0, 11.0, 180.0, 0.4)] == [5.0, 20.0, 200.0, 0.5]
    assert step_span(None, None, None) is None
    loss = np.array([2.31, 1.2, np.nan, 0.4])
    assert value_span([loss]) == (0.0, 2.5)
    assert value_span([np.array([-0.3, 0.7])]) == (-0.3, 0.8)
    assert value_span([np.array([1e-3, 1e-3])], constant_mid=True) == (0.0, 2e-3)  # a constant rate mid-axis
    assert value_span([np.array([0.02, 3.0])], log=True) == (-2.0, 1.0)  # whole decades, in log10 units
    assert value_span([np.array([12.0, 98.0])], fixed=(0.0, 100.0)) == (0.0, 100.0)
    assert value_span([np.array([12.0, 130.0])], fixed=(0.0, 100.0)) == (0.0, 150.0)  # outgrown: widened
    assert value_span([np.array([np.nan])]) is None
    assert symmetric_span([np.array([[0.4, -2.7], [1.0, 0.2]])]) == (-3.0, 3.0)


def test_a_live_run_keeps_its_axes_while_the_curves_grow(qtbot):
    view = _view(qtbot)
    events = demo.run_events(epochs=6, steps_per_epoch=50, chunk=5)  # 300 steps
    changes, last, step_axes = 0, None, set()
    for e in events:
        _feed(view, [e])
        if isinstance(e, Steps):
            view.refresh()
            now = _ranges(view)
            changes += now != last
            last = now
            step_axes.add(now[0])
    updates = sum(isinstance(e, Steps) for e in events)
    # The step axis spans the run's 300 planned steps from the first update on; a value axis changes only when the
    # data outgrows it (the metric plot's first epoch, the learning rate halved after three epochs).
    assert step_axes == {(-3.0, 303.0)}
    assert changes <= 5 and updates == 60
    x0, x1 = view.loss_plot.vb.viewRange()[0]
    assert (x0, x1) == pytest.approx((-3.0, 303.0))  # 0 … 300 steps, 1 % either side
    lo, hi = view.loss_plot.vb.viewRange()[1]
    peak = max(float(e.loss.max()) for e in events if isinstance(e, Steps))
    assert lo < 0 < peak < hi <= nice_ceil(peak) * 1.03 + 1e-12  # 0 to a round number over the highest loss
    lo, hi = view.metric_plot.vb.viewRange()[1]
    assert lo == pytest.approx(-3.0) and hi == pytest.approx(103.0)  # accuracy: 0–100 %
    assert not any(view.loss_plot.vb.state["autoRange"])  # the view sets the ranges, not pyqtgraph's auto-range
    assert view.raw_curve.xData.max() == 300  # every step drawn


def test_a_long_run_widens_its_step_axis_in_a_few_jumps_and_numbers_it_once(qtbot):
    view = _view(qtbot)
    events = demo.run_events(epochs=25, steps_per_epoch=100, chunk=50)  # 2,500 steps: more than a whole-plan axis
    ends = []
    for e in events:
        _feed(view, [e])
        if isinstance(e, Steps):
            view.refresh()
            end = round(view.loss_plot.vb.viewRange()[0][1] / 1.01, 6)
            if not ends or ends[-1] != end:
                ends.append(end)
    assert ends == [100.0, 200.0, 500.0, 1000.0, 2000.0, 2500.0]  # 2–2.5× at a time, then the planned end
    shown = [p.getAxis("bottom").style["showValues"] for p in (view.loss_plot, view.metric_plot, view.lr_plot)]
    assert shown == [False, False, True]  # the shared step axis is numbered under the lowest plot only


def test_a_finished_run_ends_its_step_axis_at_the_last_step(qtbot):
    view = _view(qtbot)
    events = demo.run_events(epochs=8, steps_per_epoch=50)
    stop = next(i for i, e in enumerate(events) if isinstance(e, Steps) and e.epoch == 3)
    _feed(view, events[:stop])
    view.refresh()
    assert view.loss_plot.vb.viewRange()[0][1] == pytest.approx(404.0)  # 150 steps of 400: the plan, 1 % padding
    view.on_event(Finished(status="stopped", reason="stopped", epochs=3, step=150, metric="val_accuracy", best=None,
                           best_epoch=None))
    view.refresh()
    assert view.loss_plot.vb.viewRange()[0] == pytest.approx([-1.5, 151.5])  # stopped at step 150


def _wheel(view, plot, delta=240):
    """A real mouse-wheel turn over the middle of `plot`'s data area."""
    viewport = view.graphics.viewport()
    centre = view.graphics.mapFromScene(plot.vb.sceneBoundingRect().center())
    event = QWheelEvent(QPointF(centre), QPointF(viewport.mapToGlobal(centre)), QPoint(0, 0), QPoint(0, delta),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    view.graphics.wheelEvent(event)


def test_a_zoom_stops_following_and_the_auto_button_gives_it_back(qtbot):
    view = _view(qtbot)
    events = demo.run_events(epochs=6, steps_per_epoch=50)
    half = len(events) // 2
    _feed(view, events[:half])
    view.refresh()
    before = view.loss_plot.vb.viewRange()
    _wheel(view, view.loss_plot)  # zoom in on the loss plot
    zoomed = view.loss_plot.vb.viewRange()
    assert zoomed[0][1] - zoomed[0][0] < before[0][1] - before[0][0]
    _feed(view, events[half:])
    view.refresh()
    assert np.allclose(view.loss_plot.vb.viewRange(), zoomed)  # the new data did not move the user's zoom
    assert view.raw_curve.xData.max() < 300  # only the steps in view are drawn
    view.loss_plot.autoBtnClicked()  # pyqtgraph's "A" button
    qtbot.waitUntil(lambda: view.loss_plot.vb.viewRange()[0] == pytest.approx([-3.0, 303.0]), timeout=3000)
    assert not any(view.loss_plot.vb.state["autoRange"])  # following again, not pyqtgraph's auto-range
    assert view.raw_curve.xData.max() == 300
    lo, hi = view.loss_plot.vb.viewRange()[1]
    assert math.isclose(lo, -0.03 * (hi - lo) / 1.06, rel_tol=1e-6)  # back to 0 … a round number


def test_log_scale_follows_in_whole_decades(qtbot):
    view = _view(qtbot)
    _feed(view, demo.run_events(epochs=3, steps_per_epoch=50))
    view.refresh()
    view.log_box.click()
    view.refresh()
    lo, hi = view.loss_plot.vb.viewRange()[1]
    span = (lo + hi) / 2, (hi - lo) / 1.06
    low, high = span[0] - span[1] / 2, span[0] + span[1] / 2
    assert low == pytest.approx(round(low)) and high == pytest.approx(round(high))  # decades
    assert 10 ** low <= float(np.nanmin(view.loss.values)) and float(np.nanmax(view.loss.values)) <= 10 ** high


def _vae_look(rng, scale=1.0):
    from layerloom.core.training.events import VAELook

    latent = (rng.normal(size=(200, 2)) * scale).clip(-2.9 * scale, 2.9 * scale)
    latent[0] = (2.9 * scale, -1.0)  # the farthest point
    return VAELook(step=1, epoch=0, inputs=rng.random((8, 1, 28, 28), np.float32),
                   reconstructions=rng.random((8, 1, 28, 28), np.float32),
                   samples=rng.random((16, 1, 28, 28), np.float32),
                   latent=latent.astype(np.float32),
                   labels=rng.integers(0, 10, 200), traversal=rng.random((8, 8, 1, 28, 28), np.float32),
                   traversal_extent=(-2.5, 2.5, -2.5, 2.5))


def test_the_latent_scatter_keeps_its_axes_until_the_points_outgrow_them_or_the_user_zooms(qtbot):
    from layerloom.gui.plots.vae_view import VAEPanels

    panels = shown(qtbot, VAEPanels, 800, 700)
    rng = np.random.default_rng(3)
    box = panels.latent_plot.vb
    panels.show_look(_vae_look(rng))
    first = box.viewRange()
    assert first[0] == pytest.approx([-3.3, 3.3]) and first[1] == pytest.approx([-3.3, 3.3])  # ±3, 5 % padding
    panels.show_look(_vae_look(rng))  # other points inside ±3: the axes stay
    assert np.allclose(box.viewRange(), first)
    panels.show_look(_vae_look(rng, scale=2.0))  # points out to ±5.8: round numbers past them
    assert box.viewRange()[0] == pytest.approx([-6.6, 6.6]) and box.viewRange()[1] == pytest.approx([-6.6, 6.6])
    _wheel_at(panels.graphics, box)  # the user zooms: the next look leaves the zoom alone
    zoomed = box.viewRange()
    panels.show_look(_vae_look(rng, scale=3.0))
    assert np.allclose(box.viewRange(), zoomed)
    panels.latent_plot.autoBtnClicked()  # "A": following again
    panels.show_look(_vae_look(rng))
    assert box.viewRange()[0] == pytest.approx([-3.3, 3.3])


def _wheel_at(graphics, vb, delta=240):
    viewport = graphics.viewport()
    centre = graphics.mapFromScene(vb.sceneBoundingRect().center())
    event = QWheelEvent(QPointF(centre), QPointF(viewport.mapToGlobal(centre)), QPoint(0, 0), QPoint(0, delta),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    graphics.wheelEvent(event)
