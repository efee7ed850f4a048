"""Training a classifier on in-memory tensors with the softmax or PC-softmax loss.

One loop serves every experiment (MLPs on Gaussian mixtures, LeNet on MNIST, a linear head on CUB
features): minibatch SGD-type training, optional early stopping on a validation split, a seeded
shuffle, and at most one progress line per epoch.
"""

from __future__ import annotations

import copy
import os
import sys
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from pcsm.core._checks import check_positive_int
from pcsm.core.losses import make_loss


def set_threads(n: int | None = None) -> int:
    """Set torch's intra-op thread count (default: ``PCSM_THREADS`` or 1) and return it.

    On a small shared machine one thread is much faster than two for small models: a busy second core
    made a small-MLP epoch 40x slower on 2 threads than on 1.
    """
    n = int(os.environ.get("PCSM_THREADS", "1")) if n is None else n
    check_positive_int(n, "threads")
    torch.set_num_threads(n)
    return n


def default_device() -> torch.device:
    """The GPU when one is present, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_everything(seed: int) -> torch.Generator:
    """Seed torch and numpy globally; return a CPU generator for data shuffling. ``seed`` >= 0."""
    check_positive_int(seed, "seed", minimum=0)
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    return torch.Generator().manual_seed(seed)


@dataclass
class TrainingHistory:
    """Per-epoch training loss, and validation loss/accuracy when a validation split was given."""

    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    best_epoch: int | None = None


@torch.no_grad()
def predict_logits(
    model: nn.Module, x: torch.Tensor, batch_size: int = 4096, device: torch.device | None = None
) -> torch.Tensor:
    """Logits of ``model`` on ``x``, computed in batches, returned on the CPU."""
    device = device or next(model.parameters()).device
    model.eval()
    outs = [model(x[i : i + batch_size].to(device)).float().cpu() for i in range(0, len(x), batch_size)]
    return torch.cat(outs)


def train_classifier(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    loss: str = "softmax",
    prior: Any = None,
    optimizer: Callable[[Any], torch.optim.Optimizer] | None = None,
    scheduler: Callable[[torch.optim.Optimizer], Any] | None = None,
    epochs: int = 10,
    batch_size: int = 64,
    seed: int = 0,
    validation: tuple[torch.Tensor, torch.Tensor] | None = None,
    patience: int | None = None,
    device: torch.device | None = None,
    progress: bool | str = False,
) -> TrainingHistory:
    """Train ``model`` in place to minimise the mean ``loss`` ("softmax" or "pc-softmax" with ``prior``).

    ``optimizer`` maps the parameters to an optimiser (default Adam, lr 1e-3); ``scheduler`` maps the
    optimiser to an LR scheduler stepped once per epoch. With ``validation`` and ``patience`` training
    stops after ``patience`` epochs without a lower validation loss and restores the best weights.
    Shuffling is seeded by ``seed``; the initial weights are the caller's (call ``seed_everything``
    before building the model). ``progress`` (True or a description) shows one text tqdm bar on stdout, advancing once per epoch.
    """
    check_positive_int(epochs, "epochs")
    check_positive_int(batch_size, "batch_size")
    if len(x) != len(y):
        raise ValueError(f"y: expected {len(x)} labels, got {len(y)}")
    if patience is not None:
        check_positive_int(patience, "patience")
    if patience is not None and validation is None:
        raise ValueError("patience: early stopping needs a validation split")
    generator = seed_everything(seed)
    device = device or default_device()
    model.to(device)
    criterion = make_loss(loss, prior)
    opt = (optimizer or (lambda params: torch.optim.Adam(params, lr=1e-3)))(model.parameters())
    sched = scheduler(opt) if scheduler else None
    history = TrainingHistory()
    best_state, best_loss, stale = None, float("inf"), 0
    bar = tqdm(
        range(epochs),
        desc=progress if isinstance(progress, str) else "epochs",
        disable=not progress,
        mininterval=0,
        leave=True,
        file=sys.stdout,
    )
    for epoch in bar:
        model.train()
        order = torch.randperm(len(x), generator=generator)
        total, count = 0.0, 0
        for start in range(0, len(x), batch_size):
            idx = order[start : start + batch_size]
            xb, yb = x[idx].to(device), y[idx].to(device)
            opt.zero_grad(set_to_none=True)
            batch_loss = criterion(model(xb), yb)
            batch_loss.backward()
            opt.step()
            total += batch_loss.item() * len(idx)
            count += len(idx)
        if sched is not None:
            sched.step()
        history.train_loss.append(total / count)
        postfix = {"loss": f"{history.train_loss[-1]:.4f}"}
        if validation is not None:
            logits = predict_logits(model, validation[0], device=device)
            yv = validation[1].cpu()
            history.val_loss.append(float(criterion(logits, yv)))
            history.val_accuracy.append(float((logits.argmax(1) == yv).float().mean()))
            postfix.update(val_loss=f"{history.val_loss[-1]:.4f}", val_acc=f"{history.val_accuracy[-1]:.3f}")
            if history.val_loss[-1] < best_loss:
                best_loss, stale, history.best_epoch = history.val_loss[-1], 0, epoch
                best_state = copy.deepcopy(model.state_dict())
            else:
                stale += 1
        bar.set_postfix(postfix, refresh=False)
        if patience is not None and stale >= patience:
            break
    bar.close()
    if patience is not None and best_state is not None:
        model.load_state_dict(best_state)
    return history
