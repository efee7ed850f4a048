"""The networks of the paper's experiments."""

from __future__ import annotations

import torch
from torch import nn

from pcsm.core._checks import check_hidden, check_positive_int


def mlp(in_dim: int, n_classes: int, hidden: int | tuple[int, ...] = (100, 100, 100)) -> nn.Sequential:
    """Fully connected ReLU network ``in_dim`` -> ``hidden`` ... -> ``n_classes`` (the paper's MI classifier).

    Parameters
    ----------
    in_dim : int
        Input dimension d >= 1.
    n_classes : int
        Number of outputs (logits) M >= 2.
    hidden : int or tuple of int
        Hidden layer widths, each followed by a ReLU; an int is one layer, ``()`` a linear model.

    Returns
    -------
    torch.nn.Sequential
    """
    check_positive_int(in_dim, "in_dim")
    check_positive_int(n_classes, "n_classes", minimum=2)
    layers: list[nn.Module] = []
    width = in_dim
    for h in check_hidden(hidden):
        layers += [nn.Linear(width, h), nn.ReLU()]
        width = h
    layers.append(nn.Linear(width, n_classes))
    return nn.Sequential(*layers)


class LeNet(nn.Module):
    """LeNet of the authors' MNIST code for 28 x 28 grey images.

    Layers: ``conv 20@5x5``, ReLU, ``max-pool 2``, ``conv 50@5x5``, ReLU, ``max-pool 2``, ``fc 500``,
    ReLU, ``fc n_classes``.

    Parameters
    ----------
    n_classes : int
        Number of outputs (logits), 10 for MNIST.
    """

    def __init__(self, n_classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 20, 5), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(20, 50, 5), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(4 * 4 * 50, 500), nn.ReLU(), nn.Linear(500, n_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of a batch of images: (n, 1, 28, 28) -> (n, n_classes)."""
        return self.classifier(self.features(x))
