"""The shipped templates: found through importlib.resources, valid, compiled and run, as the issue describes."""

from __future__ import annotations

import json
from importlib.resources import files

import pytest

from layerloom.core import ProjectError, build_model, infer
from layerloom.core.compiler import example_inputs
from layerloom.core.project import Project
from layerloom.core.templates import TEMPLATE_ORDER, load_template, template_path, templates

REQUIRED = {
    "mlp": "digits",
    "lenet5": "digits",
    "vgg_mini": "cifar10",
    "resnet_mini": "cifar10",
    "inception_mini": "cifar10",
    "cnn1d_sequence": "synthetic_waveforms",
    "lstm_text": "synthetic_text",
    "bigru_sequence": "synthetic_sequences",
    "gru_timeseries": "sine",
    "rnn_long_memory": "long_memory",
    "conv_autoencoder": "digits",
    "vae_digits": "digits",
    "dcgan_digits": "digits",
}


def types(project: Project) -> list[str]:
    return [n.type for n in project.graph]


def block(project: Project, type_id: str, index: int = 0):
    return [n for n in project.graph if n.type == type_id][index]


def test_every_required_template_is_listed_in_order_with_a_one_line_description():
    listed = templates()
    assert [name for name, _ in listed] == list(TEMPLATE_ORDER)
    assert set(REQUIRED) == set(TEMPLATE_ORDER)
    for name, description in listed:
        assert description and "\n" not in description and len(description) <= 110, name
        assert description == load_template(name).description


@pytest.mark.parametrize("name", TEMPLATE_ORDER)
def test_template_infers_compiles_and_runs(name):
    import torch

    project = load_template(name)
    report = infer(project.graph)
    assert report.ok, [p.message for p in report.problems]
    assert report.warnings == []
    assert project.data.source == REQUIRED[name]
    assert project.meta["name"] and project.training.problems() == []

    model = build_model(project.graph, seed=0)
    assert sum(p.numel() for p in model.parameters()) == report.total_params
    inputs = example_inputs(project.graph, batch=2)
    model.eval()
    with torch.no_grad():
        out = model(*inputs)
    outputs = [n for n in project.graph if n.type == "Output"]  # one, or a GAN's two: samples and logits
    out = out if isinstance(out, tuple) else (out,)
    assert len(out) == len(outputs)
    for tensor, output_node in zip(out, outputs, strict=True):
        assert tuple(tensor.shape) == (2, *report[output_node.id].output_shape)
        assert torch.isfinite(tensor).all()


@pytest.mark.parametrize("name", TEMPLATE_ORDER)
def test_template_file_is_a_canonical_project_file(name):
    raw = json.loads(template_path(name).read_text(encoding="utf-8"))
    again = Project.from_dict(raw).to_dict()
    raw.pop("app_version")
    again.pop("app_version")
    assert again == raw
    positions = [n["ui"]["pos"] for n in raw["nodes"]]
    assert len({tuple(p) for p in positions}) == len(positions)  # laid out, no two blocks on one spot


@pytest.mark.parametrize("name", TEMPLATE_ORDER)
def test_training_settings_fit_the_task(name):
    project = load_template(name)
    losses = {n.params["loss"] for n in project.graph if n.type == "Output"}
    if losses & {"mse", "l1"}:
        assert project.training.early_stopping_metric == "val_loss"  # accuracy means nothing for regression
    has_rnn = any(t in {"LSTM", "GRU", "RNN"} for t in types(project))
    if has_rnn:
        assert project.training.grad_clip is not None  # recurrent nets are clipped


def test_lenet5_has_exactly_61706_parameters():
    project = load_template("lenet5")
    assert infer(project.graph).total_params == 61_706
    model = build_model(project.graph)
    assert sum(p.numel() for p in model.parameters()) == 61_706
    assert types(project) == ["Input", "Conv2d", "ReLU", "MaxPool2d", "Conv2d", "ReLU", "MaxPool2d", "Flatten",
                              "Dense", "ReLU", "Dense", "ReLU", "Dense", "Output"]
    conv1 = block(project, "Conv2d")
    assert (conv1.params["out_channels"], conv1.params["kernel_size"], conv1.params["padding"]) == (6, 5, 2)
    assert block(project, "Input").params["shape"] == [1, 28, 28]
    assert project.data.options == {"resize": [28, 28]}
    assert project.graph.nodes[0].name == "image"


def test_mlp():
    project = load_template("mlp")
    assert types(project) == ["Input", "Dense", "ReLU", "Dense", "ReLU", "Dense", "Output"]
    assert block(project, "Input").params["shape"] == [64]
    assert [block(project, "Dense", i).params["out_features"] for i in range(3)] == [128, 64, 10]
    assert block(project, "Output").params["loss"] == "cross_entropy"
    assert project.data.options == {"flatten": True}


def test_cifar_templates():
    vgg, resnet, inception = (load_template(n) for n in ("vgg_mini", "resnet_mini", "inception_mini"))
    for p in (vgg, resnet, inception):
        assert block(p, "Input").params["shape"] == [3, 32, 32]
    assert types(vgg).count("BatchNorm") >= 4 and types(vgg).count("Conv2d") >= 4
    residuals = [n.params["stride"] for n in resnet.graph if n.type == "Residual"]
    assert 2 in residuals and 1 in residuals
    assert "GlobalAvgPool" in types(resnet) and types(resnet)[-2] == "Dense"
    assert types(resnet)[1] == "Conv2d"  # the stem
    assert types(inception).count("Inception") >= 2


def test_sequence_templates():
    cnn1d = load_template("cnn1d_sequence")
    assert block(cnn1d, "Input").params["shape"] == [1, 128]
    assert {"Conv1d", "MaxPool1d", "GlobalAvgPool", "Dense"} <= set(types(cnn1d))

    lstm = load_template("lstm_text")
    assert types(lstm) == ["Input", "Embedding", "LSTM", "Dense", "Output"]
    assert block(lstm, "Input").params == {"shape": [64], "dtype": "int64"}
    emb = block(lstm, "Embedding").params
    assert (emb["num_embeddings"], emb["embedding_dim"]) == (5000, 64)
    assert block(lstm, "LSTM").params["hidden_size"] == 64
    assert block(lstm, "Dense").params["out_features"] == 2

    bigru = block(load_template("bigru_sequence"), "GRU").params
    assert bigru["bidirectional"] is True and bigru["num_layers"] == 2

    gru = load_template("gru_timeseries")
    assert types(gru) == ["Input", "GRU", "Dense", "Output"]
    assert block(gru, "Input").params["shape"] == [30, 1]
    assert block(gru, "GRU").params["hidden_size"] == 32
    assert block(gru, "Dense").params["out_features"] == 1
    assert block(gru, "Output").params["loss"] == "mse"
    assert gru.data.options == {"window": 30, "horizon": 1}


def test_conv_autoencoder_rebuilds_its_input_shape():
    project = load_template("conv_autoencoder")
    report = infer(project.graph)
    image = block(project, "Input")
    out = block(project, "Output")
    assert image.params["shape"] == [1, 28, 28]
    assert report[out.id].output_shape == (1, 28, 28)
    assert {"Conv2d", "MaxPool2d", "ConvTranspose2d", "Sigmoid"} <= set(types(project))
    assert out.params["loss"] == "mse"
    # unnormalized: 0–1 targets that the sigmoid output can reach
    assert project.data.options == {"resize": [28, 28], "task": "reconstruction", "normalize": False}


def test_templates_are_package_resources():
    folder = files("layerloom.resources").joinpath("templates")
    for name in TEMPLATE_ORDER:
        assert folder.joinpath(f"{name}.json").is_file()
        assert template_path(name).read_bytes() == folder.joinpath(f"{name}.json").read_bytes()


def test_loading_a_template_gives_a_fresh_project_each_time():
    a, b = load_template("mlp"), load_template("mlp")
    a.graph.rename(a.graph.find("logits"), "scores")
    a.meta["name"] = "changed"
    assert b.graph.find("logits") and b.name == "Multilayer perceptron"


def test_unknown_template_names_the_close_one():
    with pytest.raises(ProjectError) as exc:
        load_template("lenet")
    assert "there is no template named 'lenet'; did you mean 'lenet5'?" in str(exc.value)
    assert "mlp" in str(exc.value)
    with pytest.raises(ProjectError):
        template_path("../graph")


def test_the_autoencoder_template_loads_its_data_as_its_own_target():
    from layerloom.core.data import load_data
    from layerloom.core.templates import load_template

    project = load_template("conv_autoencoder")
    prepared = load_data(project.data.source, project.data.options, val_fraction=0.2, seed=0)
    assert prepared.info.task == "reconstruction" and prepared.info.target_shapes == [(1, 28, 28)]
    xs, ys = next(prepared.train.batches(4))
    assert xs[0].shape == ys[0].shape == (4, 1, 28, 28)
    old = load_data("digits", {"resize": [28, 28], "target": "input"}, val_fraction=0.2, seed=0)  # older spelling
    assert old.info.task == "reconstruction"
