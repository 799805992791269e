"""The valid inputs every fuzz case starts from, built once per session in a folder:

    projects   project_vector.json (8 features → 3 classes), project_image.json (3×8×8 images → 2 classes)
    data       data.csv, data.npz, text.tsv, series.csv, images/ (one sub-folder per class)
    models     bundle_vector.layerloom, bundle_image.layerloom (trained one epoch), run/ (the vector run folder)
    inputs     rows.csv (features only, for `predict`), one.png

Everything is tiny, so a case costs milliseconds, and deterministic (seed 0).
"""

from __future__ import annotations

import json
import os
import shutil

import numpy as np

FEATURES, CLASSES, ROWS = 8, 3, 48
WORDS = ("good", "bad", "movie", "plot", "great", "awful", "actor", "scene", "fine", "boring")


def _project(path: str, graph, source: str) -> str:
    from layerloom.core.project import Project, save_project
    from layerloom.core.settings import DataSettings, TrainingSettings

    settings = TrainingSettings(epochs=1, batch_size=16, lr=0.01, threads=1, device="cpu", seed=0)
    save_project(Project(graph, settings, DataSettings(source, {}), {"name": "fuzz"}), path)
    return path


def _chain(shape, *blocks):
    from layerloom.core import Graph

    g = Graph()
    prev = g.add("Input", shape=list(shape))
    for type_id, params in blocks:
        n = g.add(type_id, **params)
        g.connect(prev, n)
        prev = n
    g.connect(prev, g.add("Output"))
    return g


def _data(folder: str, rng: np.random.Generator) -> None:
    x = rng.normal(size=(ROWS, FEATURES)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0.5)
    np.savez(os.path.join(folder, "data.npz"), x=x, y=y)
    with open(os.path.join(folder, "data.csv"), "w", encoding="utf-8") as f:
        f.write(",".join(f"f{i}" for i in range(FEATURES)) + ",label\n")
        for row, label in zip(x, y):
            f.write(",".join(f"{v:.4f}" for v in row) + f",{label}\n")
    with open(os.path.join(folder, "rows.csv"), "w", encoding="utf-8") as f:
        f.write(",".join(f"f{i}" for i in range(FEATURES)) + "\n")
        for row in x[:4]:
            f.write(",".join(f"{v:.4f}" for v in row) + "\n")
    with open(os.path.join(folder, "text.tsv"), "w", encoding="utf-8") as f:
        f.write("text\tlabel\n")
        for i in range(ROWS):
            words = " ".join(rng.choice(WORDS, size=6))
            f.write(f"{words}\t{'pos' if i % 2 else 'neg'}\n")
    with open(os.path.join(folder, "series.csv"), "w", encoding="utf-8") as f:
        f.write("value\n")
        for t in range(120):
            f.write(f"{np.sin(t / 5):.4f}\n")
    from PIL import Image

    for c in ("cat", "dog"):
        os.makedirs(os.path.join(folder, "images", c), exist_ok=True)
        for i in range(6):
            pixels = (rng.random((8, 8, 3)) * 255).astype(np.uint8)
            Image.fromarray(pixels).save(os.path.join(folder, "images", c, f"{i}.png"))
    shutil.copy(os.path.join(folder, "images", "cat", "0.png"), os.path.join(folder, "one.png"))


def _trained(folder: str, project_file: str, name: str) -> str:
    """Train a project one epoch in `folder/runs`, export its bundle; returns the run folder."""
    from layerloom.core.data import load_data
    from layerloom.core.export import export
    from layerloom.core.project import load_project
    from layerloom.core.training import Trainer

    project = load_project(project_file)
    data = load_data(project.data.source, dict(project.data.options), val_fraction=0.25, seed=0)
    result = Trainer(project, data, run_root=os.path.join(folder, "runs"), project_name=name,
                     tensorboard=False).run()
    if result.status != "finished":
        raise RuntimeError(f"the seed run {name} failed: {result.message}")
    export(result.run_dir, "bundle", os.path.join(folder, f"bundle_{name}.layerloom"))
    return result.run_dir


def build_seeds(folder: str) -> dict[str, str]:
    """Write every seed into `folder` (made if missing); returns name → path (see the module's docstring)."""
    os.makedirs(folder, exist_ok=True)
    index = os.path.join(folder, "seeds.json")
    if os.path.exists(index):
        with open(index, encoding="utf-8") as f:
            return json.load(f)
    rng = np.random.default_rng(0)
    _data(folder, rng)
    vector = _project(os.path.join(folder, "project_vector.json"),
                      _chain([FEATURES], ("Dense", {"out_features": 16}), ("ReLU", {}),
                             ("Dense", {"out_features": CLASSES})), os.path.join(folder, "data.csv"))
    image = _project(os.path.join(folder, "project_image.json"),
                     _chain([3, 8, 8], ("Flatten", {}), ("Dense", {"out_features": 2})),
                     os.path.join(folder, "images"))
    run_dir = _trained(folder, vector, "vector")
    _trained(folder, image, "image")
    shutil.copytree(run_dir, os.path.join(folder, "run"))
    seeds = {name: os.path.join(folder, name) for name in (
        "project_vector.json", "project_image.json", "data.csv", "data.npz", "text.tsv", "series.csv", "images",
        "rows.csv", "one.png", "bundle_vector.layerloom", "bundle_image.layerloom", "run")}
    with open(index, "w", encoding="utf-8") as f:
        json.dump(seeds, f, indent=1)
    return seeds
