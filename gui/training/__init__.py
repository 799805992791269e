"""Training in the window: the controller (worker thread, event buffer, 30 Hz drain), the Data and Training
panels, the predictor, and the tabs of live views.

    from layerloom.gui.training import TrainingController, DataPanel, TrainingPanel, LiveViews
"""

from layerloom.gui.training.controller import TrainingController
from layerloom.gui.training.data_panel import DataPanel
from layerloom.gui.training.live_views import LiveViews
from layerloom.gui.training.training_panel import TrainingPanel

__all__ = ["DataPanel", "LiveViews", "TrainingController", "TrainingPanel"]
