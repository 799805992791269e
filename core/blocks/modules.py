"""The torch modules behind composite blocks. Plain PyTorch, no Layerloom imports, so exported
source can carry them as they are."""

from __future__ import annotations

import torch
from torch import nn


class Inception(nn.Module):
    """GoogLeNet's Inception module: 1×1, 1×1→3×3, 1×1→5×5 and 3×3 max-pool→1×1 branches, each conv
    followed by ReLU, concatenated along the channels."""

    def __init__(self, in_channels: int, ch1x1: int, ch3x3red: int, ch3x3: int, ch5x5red: int,
                 ch5x5: int, pool_proj: int):
        super().__init__()
        self.branch1 = nn.Sequential(nn.Conv2d(in_channels, ch1x1, 1), nn.ReLU())
        self.branch2 = nn.Sequential(
            nn.Conv2d(in_channels, ch3x3red, 1), nn.ReLU(), nn.Conv2d(ch3x3red, ch3x3, 3, padding=1), nn.ReLU()
        )
        self.branch3 = nn.Sequential(
            nn.Conv2d(in_channels, ch5x5red, 1), nn.ReLU(), nn.Conv2d(ch5x5red, ch5x5, 5, padding=2), nn.ReLU()
        )
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(3, stride=1, padding=1), nn.Conv2d(in_channels, pool_proj, 1), nn.ReLU()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], dim=1)


class Residual(nn.Module):
    """ResNet's residual block: conv-BN-ReLU-conv-BN (or the 1×1-3×3-1×1 bottleneck) plus a shortcut,
    identity when the shape is kept, else a strided 1×1 conv with BN; ReLU after the addition."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, bottleneck: bool = False):
        super().__init__()
        if bottleneck:
            mid = out_channels // 4
            self.body = nn.Sequential(
                nn.Conv2d(in_channels, mid, 1, bias=False), nn.BatchNorm2d(mid), nn.ReLU(),
                nn.Conv2d(mid, mid, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(mid), nn.ReLU(),
                nn.Conv2d(mid, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels),
            )
        else:
            self.body = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
                nn.BatchNorm2d(out_channels), nn.ReLU(),
                nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels),
            )
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False), nn.BatchNorm2d(out_channels)
            )
        else:
            self.shortcut = nn.Identity()
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.body(x) + self.shortcut(x))
