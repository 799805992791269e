"""What the Generative tab shows with no run going: the look of the trained (or opened) VAE or GAN on the loaded
data's fixed batch, computed once per (model, data) by core/training/vae_look.py or gan_look.py on the GUI thread;
or a note in plain words (the model is not generative, no trained model, no data).

    probe = GenerativeProbe(controller)
    note = probe.note()                         # None: the views got a VAELook / GANLook through on_event
    note = probe.running_note(project.graph)    # for a run that starts: None (its looks will come), or why not
"""

from __future__ import annotations

EMPTY = "Generative views show a VAE's or a GAN's samples; this model has no Sample or Noise block."
GENERATIVE_BLOCKS = ("Sample", "Noise")


def is_generative(graph) -> bool:
    return graph is not None and any(n.type in GENERATIVE_BLOCKS for n in graph)


class GenerativeProbe:
    def __init__(self, controller):
        self.controller = controller
        self.shown: tuple | None = None  # the (model, data) whose look the views got

    def running_note(self, graph) -> str | None:
        return None if is_generative(graph) else EMPTY

    def note(self) -> str | None:
        """The look of the trained model handed to the views (None), or why there is none."""
        c = self.controller
        model, prepared = c.model, c._prepared
        if model is None:
            if not is_generative(c.document.graph):
                return EMPTY
            return "Train the network (or open a trained model) to see its samples here."
        if not is_generative(c.model_graph()):
            return EMPTY
        gan = not any(n.type == "Sample" for n in c.model_graph())  # a Noise block: a GAN
        if prepared is None:
            return "Load the data (Data panel → Load & preview) to see the model's " + \
                ("samples and what its discriminator makes of real ones." if gan else
                 "reconstructions and latent space.")
        if self.shown is not None and self.shown[0] is model and self.shown[1] is prepared:
            return None
        if gan:
            return self._gan_note(model, prepared)
        shape = c.predictor.input_shape
        if tuple(prepared.info.input_shapes[0]) != tuple(shape or ()):
            return f"The loaded data ({'×'.join(map(str, prepared.info.input_shapes[0]))}) does not fit the " \
                   f"trained model's Input ({'×'.join(map(str, shape or ()))})."
        from layerloom.core.training.threads import keep_this_thread_serial
        from layerloom.core.training.vae_look import vae_look

        keep_this_thread_serial()
        step, epoch = c._model_step
        try:
            event = vae_look(c.model, prepared, step=step, epoch=epoch)
        except Exception as err:  # a model the look cannot run on: say so on the view
            return f"The generative views cannot be made: {err}"
        self.shown = (model, prepared)
        c._each_view("on_event", event)
        return None

    def _gan_note(self, model, prepared) -> str | None:
        """A GAN's look (core/training/gan_look.py) on the loaded data's fixed real batch, or why there is none."""
        from layerloom.core.gan import gan_layout

        c = self.controller
        graph = c.model_graph()
        layout = gan_layout(graph)
        want = tuple(graph.node(layout.image).params.get("shape") or ()) if layout.image is not None else None
        have = tuple(prepared.info.input_shapes[0])
        if want is not None and have != want:
            return f"The loaded data ({'×'.join(map(str, have))}) does not fit the trained discriminator's " \
                   f"Input ({'×'.join(map(str, want))})."
        from layerloom.core.training.gan_look import gan_look
        from layerloom.core.training.threads import keep_this_thread_serial
        from layerloom.core.training.vae_look import fixed_batch

        keep_this_thread_serial()
        step, epoch = c._model_step
        try:
            device = next(model.parameters()).device
            xs, _labels = fixed_batch(prepared)
            event = gan_look(graph, model, tuple(x.to(device) for x in xs), step=step, epoch=epoch)
        except Exception as err:  # a model the look cannot run on: say so on the view
            return f"The generative views cannot be made: {err}"
        self.shown = (model, prepared)
        c._each_view("on_event", event)
        return None
