"""Fuzz cases: (session seed, index) → a mutated input in a case folder and what to run on it.

Kinds (weights in KINDS): project files; data files (csv, npz, tsv, series csv, image folders); inputs to
`predict`; bundles; run folders. Each case applies one to three mutations (mutate.py) to a seed (seeds.py)
and names its actions: ("api", name) calls the core function the window uses, ("cli", argv…) runs
`layerloom …` in the worker's process. Paths in argv are relative to the case folder (the working directory).
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field

from mutate import copy_seed, mutate_content, mutate_folder

KINDS = {"project": 18, "csv": 9, "npz": 9, "tsv": 5, "series": 4, "images": 10, "predict": 10, "bundle": 20,
         "run": 15}
DATA_SEED = {"csv": "data.csv", "npz": "data.npz", "tsv": "text.tsv", "series": "series.csv"}


@dataclass
class Case:
    index: int
    kind: str
    seed_name: str
    input: str  # relative to the case folder
    mutations: list[str] = field(default_factory=list)
    actions: list[tuple] = field(default_factory=list)

    def describe(self) -> str:
        return f"case {self.index} ({self.kind} from {self.seed_name}): " + "; ".join(self.mutations)


def case_rng(session_seed: int, index: int) -> random.Random:
    return random.Random(f"layerloom-fuzz:{session_seed}:{index}")


def pick_kind(rng: random.Random, kinds: tuple[str, ...] | None = None) -> str:
    names = [k for k in KINDS if kinds is None or k in kinds]
    return rng.choices(names, weights=[KINDS[k] for k in names])[0]


def _mutate_file(rng: random.Random, path: str, case_dir: str, times: int) -> list[str]:
    done = []
    for _ in range(times):
        with open(path, "rb") as f:
            data = f.read()
        data, what = mutate_content(rng, os.path.basename(path), data, case_dir)
        with open(path, "wb") as f:
            f.write(data)
        done.append(what)
    return done


def make_case(seeds: dict[str, str], session_seed: int, index: int, case_dir: str,
              kinds: tuple[str, ...] | None = None) -> Case:
    """Write case `index` of the session into `case_dir` (empty, the working directory) and return it."""
    rng = case_rng(session_seed, index)
    kind = pick_kind(rng, kinds)
    times = rng.choice((1, 1, 1, 2, 3))
    out = os.path.join("out")
    vector, image = seeds["project_vector.json"], seeds["project_image.json"]
    train = ("cli", "train", vector, "--epochs", "1", "--out", out)
    if kind == "project":
        name = rng.choice(("project_vector.json", "project_vector.json", "project_image.json"))
        case = Case(index, kind, name, "project.json")
        copy_seed(seeds[name], os.path.join(case_dir, case.input))
        case.mutations = _mutate_file(rng, os.path.join(case_dir, case.input), case_dir, times)
        case.actions = [("api", "load_project"), ("cli", "summary", case.input, "--json")]
        if rng.random() < 0.3:
            case.actions.append(("cli", "train", case.input, "--epochs", "1", "--out", out))
    elif kind in DATA_SEED:
        name = DATA_SEED[kind]
        case = Case(index, kind, name, name)
        copy_seed(seeds[name], os.path.join(case_dir, case.input))
        case.mutations = _mutate_file(rng, os.path.join(case_dir, case.input), case_dir, times)
        case.actions = [("api", "load_data"), (*train, "--data", case.input)]
    elif kind == "images":
        case = Case(index, kind, "images", "images")
        copy_seed(seeds["images"], os.path.join(case_dir, case.input))
        case.mutations = [mutate_folder(rng, os.path.join(case_dir, case.input), case_dir) for _ in range(times)]
        case.actions = [("api", "load_data"), ("cli", "train", image, "--epochs", "1", "--out", out, "--data",
                                               case.input)]
    elif kind == "predict":
        name = rng.choice(("rows.csv", "one.png", "data.npz"))
        case = Case(index, kind, name, name)
        copy_seed(seeds[name], os.path.join(case_dir, case.input))
        case.mutations = _mutate_file(rng, os.path.join(case_dir, case.input), case_dir, times)
        model = seeds["bundle_image.layerloom" if name.endswith(".png") else "bundle_vector.layerloom"]
        case.actions = [("cli", "predict", model, case.input, "--json")]
    elif kind == "bundle":
        name = rng.choice(("bundle_vector.layerloom", "bundle_vector.layerloom", "bundle_image.layerloom"))
        case = Case(index, kind, name, "model.layerloom")
        copy_seed(seeds[name], os.path.join(case_dir, case.input))
        case.mutations = _mutate_file(rng, os.path.join(case_dir, case.input), case_dir, times)
        inputs = seeds["one.png" if "image" in name else "rows.csv"]
        case.actions = [("api", "load_bundle"), ("api", "open_source"),
                        ("cli", "export", case.input, "-f", "safetensors", "-o", os.path.join(out, "w.safetensors")),
                        ("cli", "predict", case.input, inputs, "--json")]
        if rng.random() < 0.25:
            case.actions.append(("cli", "train", seeds["project_image.json" if "image" in name else
                                                      "project_vector.json"], "--resume", case.input, "--epochs",
                                 "2", "--out", out))
    else:  # a run folder
        case = Case(index, kind, "run", "run")
        copy_seed(seeds["run"], os.path.join(case_dir, case.input))
        case.mutations = [mutate_folder(rng, os.path.join(case_dir, case.input), case_dir) for _ in range(times)]
        case.actions = [("api", "list_runs"), ("api", "open_source"),
                        ("cli", "export", case.input, "-f", "bundle", "-o", os.path.join(out, "b.layerloom"),
                         "--checkpoint", rng.choice(("best", "last")))]
        if rng.random() < 0.4:
            case.actions.append(("cli", "train", vector, "--resume", case.input, "--epochs", "2", "--out", out))
    return case
