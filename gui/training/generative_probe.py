"""What the Generative tab shows with no run going: the look of the trained (or opened) VAE on the loaded data's
fixed batch, computed once per (model, data) by core/training/vae_look.py on the GUI thread; or a note in plain
words (the model is not generative, no trained model, no data).

    probe = GenerativeProbe(controller)
    note = probe.note()                         # None: the views got a VAELook through on_event
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
            return "Train the network (or open a trained model) to see its reconstructions, samples and latent space."
        if not is_generative(c.model_graph()):
            return EMPTY
        if not any(n.type == "Sample" for n in c.model_graph()):
            return None  # a GAN's look: its own panels (gui/plots/gan_view.py)
        if prepared is None:
            return "Load the data (Data panel → Load & preview) to see the model's reconstructions and latent space."
        if self.shown is not None and self.shown[0] is model and self.shown[1] is prepared:
            return None
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
