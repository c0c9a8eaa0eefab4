"""The PyTorch modules resdsl itself defines, for ops that ``torch.nn`` has no module for.

A compiled model holds instances of these classes (an op's :class:`~resdsl.ir.torch_form.Module`
form with ``runtime=True`` names one), and the standalone source backend writes each class it uses
into the generated file, verbatim, read from this file's text (without importing torch). So every
class here needs only ``torch``, ``nn`` and ``F``, and its text never names the package it comes
from: a generated file must not mention it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class DropPath(nn.Module):
    """Stochastic depth per sample (Huang et al. 2016), as timm's DropPath and torchvision's
    StochasticDepth(p, "row"): in training, each sample is zeroed with probability p and the others
    are scaled by 1 / (1 - p); in eval, the input itself."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(keep)
        if keep > 0.0:
            mask.div_(keep)
        return x * mask

    def extra_repr(self) -> str:
        return f"p={self.p}"


class LayerNorm2d(nn.LayerNorm):
    """Layer normalization over the channels at each position of an N x C x H x W map, as ConvNeXt's
    (torchvision's LayerNorm2d): to channels-last, layer_norm over C, back; parameters as nn.LayerNorm(C)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class ChannelLinear(nn.Linear):
    """nn.Linear applied at each position of an N x C x H x W map, over its channels (ConvNeXt's
    pointwise MLP): the same parameters and result as permuting to channels-last, nn.Linear, and
    back, computed as a 1x1 convolution, which keeps the input itself for backward whatever its
    memory layout (a linear layer on a permuted channels-first map would keep a copy)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight[:, :, None, None], self.bias)
