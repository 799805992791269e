"""Raw data → what a trained model takes, from the preprocessing facts recorded when it trained.

This module needs PyTorch and the standard library only: Layerloom uses it to predict, and the Python
export copies its source into `model.py`, so an exported model prepares raw data exactly as Layerloom does.

    facts = json.load(open("model.preprocessing.json"))
    x = prepare(images, facts)              # uint8 pixels or 0–1 floats, any size, H×W / H×W×C / C×H×W / batches
    x = prepare(["free entry now"], facts)  # texts → token ids (facts["text"]["vocabulary"] or `vocabulary=`)
    x = prepare(rows, facts)                # N×F feature values as in the training table
    y = to_units(model(x), facts)           # regression outputs back in the data's units

`facts` is the JSON of `layerloom.core.data.preprocessing.Preprocessing.to_dict()`.
"""

import re

import torch
import torch.nn.functional as F

_WORD = re.compile(r"\w+(?:'\w+)*|[^\w\s]")
_LUMA = (0.299, 0.587, 0.114)


class PreprocessError(ValueError):
    """Input the model cannot take, in plain words (wrong channel count, wrong number of features…)."""


def prepare(data, facts, vocabulary=None):
    """Raw data → the model's input tensor, by the kind of data the model was trained on."""
    kind = facts.get("kind")
    if kind == "image":
        return prepare_images(data, facts)
    if kind == "text":
        return encode_texts(data, facts, vocabulary)
    if kind == "series":
        return prepare_series(data, facts)
    if kind in ("vector", "sequence", "signal"):
        return prepare_features(data, facts)
    raise PreprocessError(f"unknown kind of data {kind!r} in the preprocessing facts")


# --- images ------------------------------------------------------------------------------------------


def _as_float_tensor(x, white):
    """Pixels as 0–1 floats: uint8 ÷ 255; floats up to 1 as they are; larger floats ÷ the training data's
    value of white when they fit under it (16 for the built-in 8×8 digits), else ÷ 255."""
    t = x if isinstance(x, torch.Tensor) else torch.tensor(x)
    if t.dtype == torch.uint8:
        return t.to(torch.float32) / 255.0
    if t.dtype == torch.bool:
        return t.to(torch.float32)
    t = t.to(torch.float32)
    top = float(t.abs().max()) if t.numel() else 0.0
    if top <= 1.0:
        return t
    return t / (white if white > 1.0 and top <= white else 255.0)


def _channels_first(t, channels):
    """A batch of images (N×H×W, N×H×W×C or N×C×H×W) as N×C×H×W: a last dimension of at most 4 after a
    larger one is taken as channels."""
    if t.dim() == 3:
        return t.unsqueeze(1)
    h_or_c, last = t.shape[1], t.shape[-1]
    if last <= 4 < h_or_c or (last == channels and h_or_c != channels):
        return t.permute(0, 3, 1, 2)
    return t


def _match_channels(t, channels):
    """N×C×H×W with the model's channel count: RGBA loses alpha, colour becomes grey (luma), grey is repeated."""
    c = t.shape[1]
    if c == channels:
        return t
    if c == 4 and channels in (1, 3):  # RGBA: the alpha channel is dropped
        t, c = t[:, :3], 3
    if c == 3 and channels == 1:
        w = torch.tensor(_LUMA, dtype=t.dtype).view(1, 3, 1, 1)
        return (t * w).sum(1, keepdim=True)
    if c == 1 and channels == 3:
        return t.expand(-1, 3, -1, -1)
    if c == channels:
        return t
    raise PreprocessError(f"the model takes images with {channels} channel(s); this image has {c}")


def _is_gray_batch(t, channels):
    """A 3-D array is N gray H×W images unless it is one image (H×W×C with C ≤ 4, or C×H×W for a colour model)."""
    if t.shape[-1] <= 4:
        return False
    return not (channels != 1 and t.shape[0] in (channels, 3, 4))


def _image_batch(t, facts):
    """A batch of same-sized images (N×H×W, N×H×W×C, N×C×H×W) → N×C×H×W 0–1 floats at the model's size."""
    img = facts["image"]
    channels, size = int(img["channels"]), (int(img["height"]), int(img["width"]))
    is_uint8 = t.dtype == torch.uint8
    t = _match_channels(_channels_first(_as_float_tensor(t, float(img.get("scale", 255.0))), channels), channels)
    if tuple(t.shape[-2:]) != size:
        t = F.interpolate(t, size=size, mode="bilinear", antialias=True, align_corners=False).clamp_(0.0, 1.0)
        if is_uint8:  # as training resized 8-bit images: back to whole grey levels
            t = (t * 255.0).round_() / 255.0
    return t


def _one_image(x, facts):
    """One image (H×W, H×W×C or C×H×W) → 1×C×H×W."""
    t = x if isinstance(x, torch.Tensor) else torch.tensor(x)
    if t.dim() not in (2, 3):
        raise PreprocessError(f"an image must have 2 or 3 dimensions (H×W, H×W×C or C×H×W); got {tuple(t.shape)}")
    return _image_batch(t.unsqueeze(0), facts)


def prepare_images(images, facts):
    """Images of any size as N×C×H×W float32 normalized as in training (or N×C·H·W when the model takes
    them flattened): uint8 pixels are divided by 255, floats are taken as 0–1 (see `_as_float_tensor`),
    resized (bilinear, antialiased), colour converted to the model's channel count. An array of images is
    prepared as one batch; a list may hold images of different sizes."""
    img = facts["image"]
    if isinstance(images, (list, tuple)):
        if not images:
            raise PreprocessError("no images were given")
        batch = torch.cat([_one_image(i, facts) for i in images])
    else:
        t = images if isinstance(images, torch.Tensor) else torch.tensor(images)
        channels = int(img["channels"])
        if t.dim() == 4 or (t.dim() == 3 and _is_gray_batch(t, channels)):
            if not t.shape[0]:
                raise PreprocessError("no images were given")
            batch = _image_batch(t, facts)
        else:
            batch = _one_image(t, facts)
    mean = torch.tensor(img["mean"], dtype=torch.float32).view(1, -1, 1, 1)
    std = torch.tensor(img["std"], dtype=torch.float32).view(1, -1, 1, 1)
    batch = (batch - mean) / std
    if img.get("flatten"):
        batch = batch.reshape(batch.shape[0], -1)
    return batch.contiguous()


# --- feature rows, sequences, signals ----------------------------------------------------------------


def prepare_features(rows, facts):
    """Feature values as in the training data (N×F rows, N×T×F sequences, N×C×L signals; one sample
    without its batch dimension is accepted too), normalized as in training."""
    feats = facts["features"]
    shape = [int(s) for s in facts["input_shape"]]
    t = rows.to(torch.float32) if isinstance(rows, torch.Tensor) else torch.tensor(rows, dtype=torch.float32)
    if tuple(t.shape) == tuple(shape):
        t = t.unsqueeze(0)
    if t.dim() != len(shape) + 1 or list(t.shape[1:]) != shape:
        what = {"vector": "rows of {} feature values", "sequence": "sequences of {} steps × {} features",
                "signal": "signals of {} channels × {} samples"}.get(facts["kind"], "samples of shape {}")
        raise PreprocessError(f"the model takes {what.format(*shape)}; got data of shape {tuple(t.shape)}")
    mean = torch.tensor(feats["mean"], dtype=torch.float32)
    std = torch.tensor(feats["std"], dtype=torch.float32)
    view = [1] * t.dim()
    view[1 if facts["kind"] == "signal" else -1] = -1
    return ((t - mean.view(view)) / std.view(view)).contiguous()


def prepare_series(values, facts):
    """The last `window` values of a series (1-D), or N×window rows, as N×window×1 normalized windows."""
    s = facts["series"]
    window = int(s["window"])
    t = values.to(torch.float32) if isinstance(values, torch.Tensor) else torch.tensor(values, dtype=torch.float32)
    if t.dim() == 1:
        if t.shape[0] < window:
            raise PreprocessError(f"the model reads the last {window} values of a series; got {t.shape[0]}")
        t = t[-window:].unsqueeze(0)
    elif t.dim() == 3 and t.shape[-1] == 1:
        t = t[..., 0]
    if t.dim() != 2 or t.shape[1] != window:
        raise PreprocessError(f"the model reads windows of {window} values; got data of shape {tuple(t.shape)}")
    return ((t - float(s["mean"])) / float(s["std"])).unsqueeze(-1).contiguous()


def to_units(outputs, facts):
    """Regression outputs back in the data's units (undoing the target scaling of training)."""
    target = facts.get("target")
    if not target:
        return outputs
    mean = torch.tensor(target["mean"], dtype=torch.float32)
    std = torch.tensor(target["std"], dtype=torch.float32)
    return outputs * std + mean


# --- text --------------------------------------------------------------------------------------------


def split_tokens(text, facts):
    """One text → its tokens, as training split them (words and punctuation, or characters)."""
    t = facts["text"]
    if t.get("lowercase", True):
        text = text.lower()
    return list(text) if t.get("tokenizer") == "char" else _WORD.findall(text)


def encode_texts(texts, facts, vocabulary=None):
    """Texts → N×seq_len int64 token ids with the training vocabulary (unknown tokens → the unknown id),
    cut to the first seq_len tokens and padded before (`pre`) or after (`post`) as in training."""
    t = facts["text"]
    vocab = vocabulary if vocabulary is not None else t.get("vocabulary")
    if not vocab:
        raise PreprocessError("the vocabulary is missing: it is written beside the model (vocabulary.json)")
    if isinstance(texts, str):
        texts = [texts]
    index = {tok: i for i, tok in enumerate(vocab)}
    seq_len, unk, pad = int(t["seq_len"]), int(t.get("unk_id", 1)), int(t.get("pad_id", 0))
    out = torch.full((len(texts), seq_len), pad, dtype=torch.int64)
    for row, text in enumerate(texts):
        ids = [index.get(tok, unk) for tok in split_tokens(str(text), facts)[:seq_len]]
        if not ids:
            continue
        if t.get("padding", "pre") == "pre":
            out[row, seq_len - len(ids):] = torch.tensor(ids)
        else:
            out[row, :len(ids)] = torch.tensor(ids)
    return out
