"""A user's own model for `dojosim capture --model python:examples.my_net:build` (run from the repo root).

The factory protocol: `build(batch, seq)` returns `(module, inputs)`: an nn.Module and the keyword (dict) or
positional (tuple) inputs of one step. dojosim calls it under fake tensors, so nothing here is allocated; the
loss is the output's `loss` where it has one, else the mean square of its first tensor.
"""

import torch
from torch import nn


class TinyConvNet(nn.Module):
    """Two conv blocks and a classifier: an ordinary module, nothing dojosim-specific."""

    def __init__(self, classes: int = 10, width: int = 32):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1),
            nn.BatchNorm2d(2 * width),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
        )
        self.head = nn.Linear(2 * width, classes)

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        logits = self.head(self.features(images).flatten(1))
        return {"logits": logits, "loss": nn.functional.cross_entropy(logits.float(), labels)}


def build(batch: int, seq: int | None = None) -> tuple[nn.Module, dict[str, torch.Tensor]]:
    """32x32 images (seq, if given, is ignored: this model has no token axis)."""
    inputs = {"images": torch.randn(batch, 3, 32, 32), "labels": torch.randint(0, 10, (batch,))}
    return TinyConvNet(), inputs
