"""What the views show of the trained model when no run is going: the selected block's feature maps and the inside of
a selected recurrent block (states, gates, gradients through time) on the probe sample, computed on the GUI thread
(serially: one small forward pass, and a backward one for the gradients), or a note saying what is missing.

    idle = IdleProbe(controller)
    note = idle.features("conv2d_1")          # None: the views got FeatureMaps through on_event
    note = idle.recurrent("lstm", "LSTM")     # None: the views got a RecurrentInside through on_event
    idle.forget()                             # the trained model, the data or the block changed

Each result is computed once per (model, block, data, probe sample) and handed to the controller's views; the
sample is the controller's `probe_index` (clamped to the split's samples).
"""

from __future__ import annotations

RECURRENT_TYPES = ("RNN", "LSTM", "GRU")


class IdleProbe:
    def __init__(self, controller):
        self.controller = controller
        self.feature_key: tuple | None = None  # what the feature maps computed here were for
        self.recurrent_key: tuple | None = None  # what the recurrent look computed here was for

    def forget(self) -> None:
        self.feature_key = self.recurrent_key = None

    def _missing(self, block: str, what: str) -> str | None:
        """What keeps `block`'s `what` from being shown (no trained model, the block not in it, no data or data that
        does not fit), or None."""
        c = self.controller
        model, prepared = c.model, c._prepared
        if model is None:
            return f"Train the network (or open a trained model) to see {what}."
        if block not in getattr(model, "block_nodes", {}):
            return f"{block} is not in the trained model (it was added or renamed after training): train again " \
                   f"to see {what}."
        if prepared is None:
            return f"Load the data (Data panel → Load & preview) to see {what} on the probe sample."
        shape = c.predictor.input_shape
        if tuple(prepared.info.input_shapes[0]) != shape:
            return f"The loaded data ({'×'.join(map(str, prepared.info.input_shapes[0]))}) does not fit the trained " \
                   f"model's Input ({'×'.join(map(str, shape or ()))}), so there is no probe sample for {block}."
        return None

    def _named(self, label):
        """A class index as its class name (a view of a reopened model has no run to name its classes), else as is."""
        names = self.controller.predictor.class_names or self.controller._prepared.info.class_names
        if isinstance(label, int) and names and 0 <= label < len(names):
            return str(names[label])
        return label

    def _ready(self):
        """The model's device, after making this thread compute serially (core/training/threads.py)."""
        import torch

        from layerloom.core.training.threads import keep_this_thread_serial

        keep_this_thread_serial()
        return next((p.device for p in self.controller.model.parameters()), torch.device("cpu"))

    def features(self, block: str) -> str | None:
        """The selected block's feature maps with the trained model, handed to the views; or a note."""
        note = self._missing(block, f"{block}'s output")
        if note is not None:
            return note
        c = self.controller
        key = (id(c.model), block, id(c._prepared), c.probe_index)
        if key == self.feature_key:
            return None
        from layerloom.core.training.instrument import FeatureTap, feature_map_events, probe_sample

        device = self._ready()
        try:
            index, inputs, _targets, label = probe_sample(c._prepared, c.probe_index)
            inputs = tuple(x.to(device) for x in inputs)
            graph = c.model_graph()
            if any(n.type == "Noise" for n in graph):  # a GAN's whole model also takes its noise
                from layerloom.core.training.gan_networks import whole_model_inputs

                inputs = whole_model_inputs(graph, c.model, inputs)
            step, epoch = c._model_step
            events = feature_map_events(FeatureTap(c.model), [block], inputs,
                                        sample_index=index, label=self._named(label), step=step, epoch=epoch)
        except Exception as err:  # a model that cannot take the probe: say so on the view
            return f"{block}'s output could not be computed: {err}"
        self.feature_key = key
        for event in events:
            c._each_view("on_event", event)
        return None

    def recurrent(self, block: str, block_type: str | None) -> str | None:
        """Inside the selected recurrent block with the trained model, as a RecurrentInside handed to the views;
        or a note."""
        if block_type not in RECURRENT_TYPES:
            return f"{block} is a {block_type or 'block'}, not a recurrent block: select an RNN, LSTM or GRU to see " \
                   "its states and gates over time."
        note = self._missing(block, f"inside {block}")
        if note is not None:
            return note
        c = self.controller
        key = (id(c.model), block, id(c._prepared), c.probe_index)
        if key == self.recurrent_key:
            return None
        from layerloom.core.training.instrument import probe_sample
        from layerloom.core.training.losses import loss_function, output_losses
        from layerloom.core.training.recurrent_looks import RecurrentLooks

        device = self._ready()
        model, prepared = c.model, c._prepared
        try:
            index, xs, ys, label = probe_sample(prepared, c.probe_index)
            loss_fn = loss_function(output_losses(c.model_graph(), model.output_names))
        except Exception as err:  # a model or data that cannot give the probe: say so on the view
            return f"Cannot look inside {block}: {err}"
        looks = RecurrentLooks(model, loss_fn, vocabulary=prepared.info.vocabulary)
        step, epoch = c._model_step
        probe = (index, tuple(x.to(device) for x in xs), tuple(y.to(device) for y in ys), self._named(label))
        event = looks.look(block, probe, step, epoch)
        if event.kind == "recurrent_note":  # not recurrent in the trained model, a model that cannot take it
            return event.message
        self.recurrent_key = key
        c._each_view("on_event", event)
        return None
