"""Pretrained backbones as blocks: ResNet-18 and MobileNetV3-Small, the convolutional bases of the
torchvision models, ending in a feature vector (or map) for a head of your own — transfer learning.

With `weights="imagenet"` the ImageNet weights are downloaded once, with progress, through torchvision's
weights API into the PyTorch hub cache (`download_weights` lets a window show the progress first); they
are read with `torch.load(weights_only=True)`. With `weights="none"` the backbone starts from random
weights (and needs no network).

The torch modules are plain PyTorch (defined on first use, so that the block registry does not import
torch), with the same parameter names as torchvision's models, so torchvision's weights load into them
and the Python export can copy their source as it is.
"""

from __future__ import annotations

import os

from layerloom.core.blocks.registry import register
from layerloom.core.blocks.rules import require_float, spatial_input
from layerloom.core.blocks.spec import BlockProblem, BlockSpec, Inferred, ParamSpec, TensorSpec

BACKBONES = ("ResNet18", "MobileNetV3Small")
# the classes each block's module needs, in the order the Python export writes them
SOURCES = {
    "ResNet18": ("BasicBlock", "ResNet18Backbone"),
    "MobileNetV3Small": ("ConvBNAct", "SqueezeExcite", "InvertedResidual", "MobileNetV3SmallBackbone"),
}
WEIGHTS = {"ResNet18": ("ResNet18_Weights", "IMAGENET1K_V1"),
           "MobileNetV3Small": ("MobileNet_V3_Small_Weights", "IMAGENET1K_V1")}
MIN_SIZE = 32
_CLASSES: dict | None = None


def backbone_classes() -> dict:
    """The torch module classes (defined on the first call)."""
    global _CLASSES
    if _CLASSES is None:
        _CLASSES = _define()
    return _CLASSES


def _define() -> dict:
    import torch
    from torch import nn

    class BasicBlock(nn.Module):
        """ResNet's basic block: two 3×3 convolutions with BatchNorm, plus the input (projected by a strided
        1×1 convolution when the shape changes), then ReLU."""

        def __init__(self, in_channels: int, channels: int, stride: int = 1):
            super().__init__()
            self.conv1 = nn.Conv2d(in_channels, channels, 3, stride=stride, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(channels)
            self.relu = nn.ReLU(inplace=True)
            self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(channels)
            self.downsample = nn.Sequential()
            if stride != 1 or in_channels != channels:
                self.downsample = nn.Sequential(nn.Conv2d(in_channels, channels, 1, stride=stride, bias=False),
                                                nn.BatchNorm2d(channels))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            return self.relu(out + self.downsample(x))

    class ResNet18Backbone(nn.Module):
        """ResNet-18 without its classifier (torchvision's parameter names): an image in, 512 channels at
        1/32 of its size out, averaged into a vector of 512 when `pool`."""

        def __init__(self, in_channels: int = 3, pool: bool = True):
            super().__init__()
            self.pool = pool
            self.conv1 = nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
            self.layer1 = nn.Sequential(BasicBlock(64, 64), BasicBlock(64, 64))
            self.layer2 = nn.Sequential(BasicBlock(64, 128, 2), BasicBlock(128, 128))
            self.layer3 = nn.Sequential(BasicBlock(128, 256, 2), BasicBlock(256, 256))
            self.layer4 = nn.Sequential(BasicBlock(256, 512, 2), BasicBlock(512, 512))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            if self.pool:
                x = x.mean((2, 3))
            return x

    class ConvBNAct(nn.Sequential):
        """Convolution (no bias), BatchNorm (eps 0.001, momentum 0.01) and an optional activation:
        "relu", "hardswish" or "none"."""

        def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, groups: int = 1,
                     activation: str = "hardswish"):
            layers = [nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride,
                                padding=(kernel_size - 1) // 2, groups=groups, bias=False),
                      nn.BatchNorm2d(out_channels, eps=0.001, momentum=0.01)]
            if activation == "relu":
                layers.append(nn.ReLU(inplace=True))
            elif activation == "hardswish":
                layers.append(nn.Hardswish(inplace=True))
            super().__init__(*layers)

    class SqueezeExcite(nn.Module):
        """Squeeze-and-excitation: each channel scaled by a gate computed from the whole map's mean."""

        def __init__(self, channels: int, squeeze: int):
            super().__init__()
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc1 = nn.Conv2d(channels, squeeze, 1)
            self.fc2 = nn.Conv2d(squeeze, channels, 1)
            self.activation = nn.ReLU()
            self.scale_activation = nn.Hardsigmoid()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            scale = self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x)))))
            return scale * x

    class InvertedResidual(nn.Module):
        """MobileNetV3's block: a 1×1 expansion, a depthwise k×k convolution, squeeze-and-excitation, a 1×1
        projection, and the input added back when the shape is kept."""

        def __init__(self, in_channels: int, kernel: int, expanded: int, out_channels: int, se: bool,
                     activation: str, stride: int):
            super().__init__()
            layers = []
            if expanded != in_channels:
                layers.append(ConvBNAct(in_channels, expanded, 1, activation=activation))
            layers.append(ConvBNAct(expanded, expanded, kernel, stride=stride, groups=expanded, activation=activation))
            if se:
                layers.append(SqueezeExcite(expanded, max(8, (expanded // 4 + 4) // 8 * 8)))
            layers.append(ConvBNAct(expanded, out_channels, 1, activation="none"))
            self.block = nn.Sequential(*layers)
            self.use_res_connect = stride == 1 and in_channels == out_channels

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out = self.block(x)
            if self.use_res_connect:
                out = out + x
            return out

    class MobileNetV3SmallBackbone(nn.Module):
        """MobileNetV3-Small without its classifier (torchvision's parameter names): an image in, 576
        channels at 1/32 of its size out, averaged into a vector of 576 when `pool`."""

        def __init__(self, in_channels: int = 3, pool: bool = True):
            super().__init__()
            self.pool = pool
            config = [  # in, kernel, expanded, out, squeeze-excite, activation, stride
                (16, 3, 16, 16, True, "relu", 2), (16, 3, 72, 24, False, "relu", 2),
                (24, 3, 88, 24, False, "relu", 1), (24, 5, 96, 40, True, "hardswish", 2),
                (40, 5, 240, 40, True, "hardswish", 1), (40, 5, 240, 40, True, "hardswish", 1),
                (40, 5, 120, 48, True, "hardswish", 1), (48, 5, 144, 48, True, "hardswish", 1),
                (48, 5, 288, 96, True, "hardswish", 2), (96, 5, 576, 96, True, "hardswish", 1),
                (96, 5, 576, 96, True, "hardswish", 1),
            ]
            layers = [ConvBNAct(in_channels, 16, 3, stride=2)]
            layers += [InvertedResidual(*c) for c in config]
            layers.append(ConvBNAct(96, 576, 1))
            self.features = nn.Sequential(*layers)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.features(x)
            if self.pool:
                x = x.mean((2, 3))
            return x

    return {c.__name__: c for c in (BasicBlock, ResNet18Backbone, ConvBNAct, SqueezeExcite, InvertedResidual,
                                    MobileNetV3SmallBackbone)}


# --- shapes, parameters and MACs, by arithmetic ------------------------------------------------------------


def _out(size: int, k: int, s: int, p: int) -> int:
    return (size + 2 * p - k) // s + 1


class _Count:
    def __init__(self, h: int, w: int):
        self.h, self.w, self.params, self.macs = h, w, 0, 0

    def conv(self, cin, cout, k, s=1, groups=1, bias=False, bn=True, move=True):
        oh, ow = _out(self.h, k, s, (k - 1) // 2), _out(self.w, k, s, (k - 1) // 2)
        self.params += cout * (cin // groups) * k * k + (cout if bias else 0) + (2 * cout if bn else 0)
        self.macs += cout * (cin // groups) * k * k * oh * ow
        if move:
            self.h, self.w = oh, ow
        return oh, ow


def _resnet_count(c: int, h: int, w: int) -> _Count:
    n = _Count(h, w)
    n.conv(c, 64, 7, 2)
    n.h, n.w = _out(n.h, 3, 2, 1), _out(n.w, 3, 2, 1)  # max pooling
    cin = 64
    for channels, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        for block in range(2):
            s = stride if block == 0 else 1
            h, w = n.h, n.w
            n.conv(cin, channels, 3, s)
            n.conv(channels, channels, 3)
            if s != 1 or cin != channels:
                saved = (n.h, n.w)
                n.h, n.w = h, w
                n.conv(cin, channels, 1, s, move=False)
                n.h, n.w = saved
            cin = channels
    return n


def _mobilenet_count(c: int, h: int, w: int) -> _Count:
    n = _Count(h, w)
    n.conv(c, 16, 3, 2)
    config = [(16, 3, 16, 16, True, 2), (16, 3, 72, 24, False, 2), (24, 3, 88, 24, False, 1),
              (24, 5, 96, 40, True, 2), (40, 5, 240, 40, True, 1), (40, 5, 240, 40, True, 1),
              (40, 5, 120, 48, True, 1), (48, 5, 144, 48, True, 1), (48, 5, 288, 96, True, 2),
              (96, 5, 576, 96, True, 1), (96, 5, 576, 96, True, 1)]
    for cin, k, exp, cout, se, s in config:
        if exp != cin:
            n.conv(cin, exp, 1)
        n.conv(exp, exp, k, s, groups=exp)
        if se:
            sq = max(8, (exp // 4 + 4) // 8 * 8)
            n.params += exp * sq + sq + sq * exp + exp
            n.macs += 2 * exp * sq + n.h * n.w * exp
        n.conv(exp, cout, 1)
    n.conv(96, 576, 1)
    return n


FEATURES = {"ResNet18": 512, "MobileNetV3Small": 576}
_COUNTS = {"ResNet18": _resnet_count, "MobileNetV3Small": _mobilenet_count}


def _infer(type_id: str):
    def infer(p, inputs):
        x = inputs[0]
        require_float(x)
        spatial_input(x, 2, "conv")
        c, h, w = x.shape
        if p["weights"] == "imagenet" and c != 3:
            raise BlockProblem(f"has ImageNet weights, which expect 3 colour channels, but gets {c}; repeat a grey "
                               "image over 3 channels, or choose weights 'none'")
        if h < MIN_SIZE or w < MIN_SIZE:
            raise BlockProblem(f"needs images of at least {MIN_SIZE}×{MIN_SIZE} (it shrinks them 32 times), but gets "
                               f"{h}×{w}; resize the data")
        n = _COUNTS[type_id](c, h, w)
        out = (FEATURES[type_id],) if p["pool"] else (FEATURES[type_id], n.h, n.w)
        macs = n.macs + (FEATURES[type_id] * n.h * n.w if p["pool"] else 0)
        return Inferred(TensorSpec(out), n.params, macs)

    return infer


def _build(type_id: str):
    def build(p, inputs):
        cls = backbone_classes()[type_id + "Backbone"]
        module = cls(inputs[0].shape[0], p["pool"])
        if p["weights"] == "imagenet":
            load_pretrained(type_id, module)
        return module

    return build


def source_constructor(type_id: str, params, inputs) -> str:
    """The module's constructor as Python source, for the Python export (weights come from the file)."""
    pool = "" if params["pool"] else ", pool=False"
    return f"{type_id}Backbone({inputs[0].shape[0]}{pool})"


# --- ImageNet weights ------------------------------------------------------------------------------------


def _weights_enum(type_id: str):
    import torchvision.models as tvm

    enum_name, member = WEIGHTS[type_id]
    return getattr(getattr(tvm, enum_name), member)


def weights_file(type_id: str) -> str:
    """Where the ImageNet weights of a backbone are kept (PyTorch's hub cache)."""
    import torch

    url = _weights_enum(type_id).url
    return os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(url))


def download_weights(type_id: str, progress=None) -> str:
    """Download a backbone's ImageNet weights into the cache if they are not there yet, calling
    `progress(done_bytes, total_bytes)` as they come; the file's SHA-256 is checked against the prefix in
    its name. Returns the file's path."""
    import hashlib
    import tempfile
    import urllib.request

    from layerloom.core.errors import LayerloomError

    target = weights_file(type_id)
    if os.path.exists(target):
        return target
    url = _weights_enum(type_id).url
    os.makedirs(os.path.dirname(target), exist_ok=True)
    digest = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(target), suffix=".partial")
    try:
        with os.fdopen(fd, "wb") as f, urllib.request.urlopen(url, timeout=60) as response:
            total = int(response.headers.get("Content-Length") or 0)
            done = 0
            while True:
                chunk = response.read(1 << 16)
                if not chunk:
                    break
                f.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
        prefix = os.path.basename(target).rsplit("-", 1)[-1].split(".")[0]
        if prefix and not digest.hexdigest().startswith(prefix):
            raise LayerloomError(f"the downloaded {type_id} weights are damaged (their checksum is wrong); try again")
        os.replace(tmp, target)
        tmp = None
    except OSError as err:
        raise LayerloomError(f"the {type_id} ImageNet weights cannot be downloaded ({err}); check the connection, "
                             "or choose weights 'none'") from None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
    return target


def load_pretrained(type_id: str, module) -> None:
    """Put the ImageNet weights into a backbone module (downloading them first if needed, with torch's
    progress bar on stderr); the classifier's weights are left out."""
    from layerloom.core.errors import LayerloomError

    try:
        state = _weights_enum(type_id).get_state_dict(progress=True, check_hash=True, weights_only=True)
    except Exception as err:
        raise LayerloomError(f"the {type_id} ImageNet weights cannot be loaded ({type(err).__name__}: {err}); "
                             "check the connection, or choose weights 'none'") from None
    own = module.state_dict()
    state = {k: v for k, v in state.items() if k in own}
    module.load_state_dict(state, strict=True)
    module.keeps_pretrained_weights = True  # the trainer's weight initialisation leaves them alone


_HELP = (
    "{what} Transfer learning: a network trained on ImageNet's 1.2 million photos already knows edges, "
    "textures and object parts; put a small head of your own after it (a Dense with one output per "
    "class), freeze the backbone (the inspector's freeze toggle) and train the head, then unfreeze and "
    "fine-tune everything with a small learning rate.\n\n"
    "weights: 'imagenet' downloads the pretrained weights once ({size}) through torchvision's weights API; "
    "'none' starts from random weights. pool: average the final map into a vector of {features} (off: "
    "the {features}×h×w map, h and w 1/32 of the input). Input: 3×H×W images, at least 32×32 (224×224 as "
    "in ImageNet works best), normalised with ImageNet's mean and standard deviation.\n"
    "Parameters: {params:,} with 3 input channels (convolutions and 2 per BatchNorm channel; the "
    "classifier is left out)."
)


def _params(type_id: str) -> int:
    return _COUNTS[type_id](3, 224, 224).params


_PARAMS = (
    ParamSpec("weights", "choice", "imagenet", "'imagenet': pretrained weights (downloaded once); 'none': random.",
              choices=("imagenet", "none")),
    ParamSpec("pool", "bool", True, "Average the final map into one vector (off: keep the map)."),
)

register(
    BlockSpec(
        type_id="ResNet18",
        category="Composite",
        summary="ResNet-18's pretrained convolutional base: an image in, 512 features out.",
        help=_HELP.format(what="ResNet-18 (He et al., 2015) without its classifier: a 7×7 convolution, max "
                               "pooling and 8 residual blocks in four stages of 64, 128, 256 and 512 channels.",
                          size="45 MB", features=512, params=_params("ResNet18")),
        infer=_infer("ResNet18"),
        build=_build("ResNet18"),
        params=_PARAMS,
        name_base="resnet18",
        key_params=("weights", "pool"),
    )
)

register(
    BlockSpec(
        type_id="MobileNetV3Small",
        category="Composite",
        summary="MobileNetV3-Small's pretrained base: a light network for phones, 576 features out.",
        help=_HELP.format(what="MobileNetV3-Small (Howard et al., 2019) without its classifier: inverted "
                               "residual blocks of depthwise convolutions with squeeze-and-excitation and "
                               "hard-swish, built for phones.",
                          size="10 MB", features=576, params=_params("MobileNetV3Small")),
        infer=_infer("MobileNetV3Small"),
        build=_build("MobileNetV3Small"),
        params=_PARAMS,
        name_base="mobilenet_v3_small",
        key_params=("weights", "pool"),
    )
)
