"""The two networks the course trains: a configurable MLP and a small convnet.

Both take images of shape ``(n, 1, 28, 28)`` (the MLP also accepts flat
``(n, d)`` inputs) and return unnormalized class scores (logits).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["MLP", "ConvNet", "count_parameters"]


def _check_width(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}={value!r} is invalid; expected a positive integer.")


class MLP(nn.Sequential):
    """A multi-layer perceptron: ``Flatten``, then ``Linear`` + activation per hidden width.

    ``MLP(784, [512, 512], 10)`` is the chapter-1 network of 784 inputs, two
    hidden layers of 512 ReLU units and 10 outputs. ``dropout`` (a probability)
    adds :class:`torch.nn.Dropout` after each hidden activation.
    """

    def __init__(
        self,
        in_features: int = 784,
        hidden: Sequence[int] = (256,),
        out_features: int = 10,
        activation: type[nn.Module] = nn.ReLU,
        dropout: float = 0.0,
    ) -> None:
        _check_width("in_features", in_features)
        _check_width("out_features", out_features)
        if isinstance(hidden, int):
            hidden = (hidden,)
        for i, width in enumerate(hidden):
            _check_width(f"hidden[{i}]", width)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout={dropout!r} is invalid; expected a probability in [0, 1).")
        layers: list[nn.Module] = [nn.Flatten()]
        previous = in_features
        for width in hidden:
            layers += [nn.Linear(previous, width), activation()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            previous = width
        layers.append(nn.Linear(previous, out_features))
        super().__init__(*layers)
        self.in_features = in_features
        self.hidden = tuple(hidden)
        self.out_features = out_features


class ConvNet(nn.Module):
    """The small convnet of the source lectures' MNIST experiments (Fleuret, Deep Learning).

    ``conv 5x5 (32) -> max-pool 3 -> ReLU -> conv 5x5 (64) -> max-pool 2 -> ReLU
    -> fully connected 200 -> ReLU -> 10``. On 28x28 inputs the feature maps are
    32x24x24 -> 32x8x8 -> 64x4x4 -> 64x2x2, so the first fully connected layer
    sees 256 features. About 1e5 parameters.
    """

    def __init__(self, n_classes: int = 10, hidden: int = 200) -> None:
        super().__init__()
        _check_width("n_classes", n_classes)
        _check_width("hidden", hidden)
        self.conv1 = nn.Conv2d(1, 32, kernel_size=5)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=5)
        self.fc1 = nn.Linear(256, hidden)
        self.fc2 = nn.Linear(hidden, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or tuple(x.shape[1:]) != (1, 28, 28):
            raise ValueError(f"ConvNet expects images of shape (n, 1, 28, 28); got {tuple(x.shape)}.")
        x = torch.relu(nn.functional.max_pool2d(self.conv1(x), kernel_size=3))
        x = torch.relu(nn.functional.max_pool2d(self.conv2(x), kernel_size=2))
        x = torch.relu(self.fc1(x.flatten(1)))
        return self.fc2(x)


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """The number of scalar parameters of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
