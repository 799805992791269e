"""Predictions on raw data from a trained model, wherever it lives (a bundle, a run folder, an export).

    model = open_model("mnist.layerloom")          # or runs/<run>/, or an export folder / .onnx file
    names, raw = read_inputs(["digit.png", "more/"], model.preprocessing)
    results = model.predict(raw, names)            # [Prediction(input="digit.png", top=[("7", 0.98), …]), …]

A generator (a VAE's decoder or a GAN's generator export, recognized by the `"part"` its export records) has
`model.latent` (the shape of one latent code) and no preprocessing; `predict/grid.py` decodes seeded codes
into a PNG grid. `layerloom predict MODEL INPUT…` is the command line over it (`predict/cli.py`).
"""

from layerloom.core.predict.inputs import read_inputs
from layerloom.core.predict.models import PredictError, Prediction, TrainedModel, open_model

__all__ = ["PredictError", "Prediction", "TrainedModel", "open_model", "read_inputs"]
