"""Training a classifier on in-memory tensors with the softmax or PC-softmax loss.

One loop serves every experiment (MLPs on Gaussian mixtures, LeNet on MNIST, a linear head on CUB
features): minibatch SGD-type training, optional early stopping on a validation split, a seeded
shuffle, and at most one progress line per epoch. The helpers every trainer shares live here too:
threads, devices, seeds, stratified splits, the default batch size and the early-stopping rule.
"""

from __future__ import annotations

import contextlib
import copy
import math
import os
import sys
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from pcsm.core._checks import (
    Prior,
    as_label_tensor,
    as_prior,
    check_choice,
    check_finite,
    check_label_count,
    check_positive_int,
    check_prior_covers,
    check_seed,
    check_tensor,
    validate_params,
)
from pcsm.core.losses import make_loss

THREADS_VARIABLE = "PCSM_THREADS"


def set_threads(n: int | None = None) -> int:
    """Set torch's intra-op thread count and return it.

    On a small shared machine one thread is much faster than two for small models: a busy second core
    made a small-MLP epoch many times slower on 2 threads than on 1.

    Parameters
    ----------
    n : int, optional
        Number of threads >= 1; default: the environment variable ``PCSM_THREADS``, or 1 where it is
        unset or blank.

    Returns
    -------
    int
        The thread count set.
    """
    if n is None:
        text = os.environ.get(THREADS_VARIABLE, "").strip() or "1"  # unset or blank: one thread
        try:
            n = int(text)
        except ValueError:
            raise ValueError(f"{THREADS_VARIABLE}: expected a positive integer, got {text!r}") from None
        return _set_num_threads(check_positive_int(n, THREADS_VARIABLE))
    return _set_num_threads(check_positive_int(n, "threads"))


def _set_num_threads(n: int) -> int:
    torch.set_num_threads(n)
    return n


def default_device() -> torch.device:
    """The GPU when one is present, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def resolve_device(device: Any = "auto", name: str = "device") -> torch.device:
    """Parse a device choice into a :class:`torch.device` that exists on this machine.

    Parameters
    ----------
    device : None, "auto", "cpu", "cuda", "cuda:N" or torch.device
        ``None`` and "auto" pick the GPU when one is present, else the CPU.
    name : str
        The parameter name used in error messages.

    Returns
    -------
    torch.device

    Raises
    ------
    ValueError
        For any other value, or a CUDA device this machine does not have.
    """
    if device is None or (isinstance(device, str) and device == "auto"):
        return default_device()
    if not isinstance(device, (str, torch.device)):
        raise ValueError(
            f"{name}: expected 'auto', 'cpu', 'cuda', 'cuda:N' or a torch.device, got {device!r}"
        )
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(f"{name}: unknown device {device!r}; choose auto, cpu, cuda or cuda:N") from None
    if resolved.type == "cpu":
        return resolved
    if resolved.type != "cuda":
        raise ValueError(f"{name}: unknown device {device!r}; choose auto, cpu, cuda or cuda:N")
    if not torch.cuda.is_available():
        raise ValueError(
            f"{name}: {str(device)!r} requested but no CUDA GPU is available; use 'cpu' or 'auto'"
        )
    if resolved.index is not None and resolved.index >= torch.cuda.device_count():
        raise ValueError(
            f"{name}: {str(device)!r} requested but only {torch.cuda.device_count()} GPU(s) exist"
        )
    return resolved


PRECISION_VARIABLE = "PCSM_PRECISION"
PRECISIONS = ("auto", "float32", "bfloat16")


def training_precision(precision: str | None = None) -> str:
    """The numeric path of :func:`train_classifier` and :func:`predict_logits`, in one place.

    * "auto" (the default): float32 throughout; a convolutional network (one with 4-D weights, the LeNet)
      and its image batches are held in the ``channels_last`` memory layout, which the CPU's convolution
      kernels run faster (``pcsm bench train``: 1.3-2.3x on the LeNet's step) on the same float32 arithmetic
      (the results differ in rounding only). Fully connected networks (the MI estimates) are untouched.
    * "float32": plain float32 in the default layout (the path before the benchmark).
    * "bfloat16": "auto" plus bfloat16 autocast of the training forward pass, with float32 master weights
      and float32 prediction. Opt-in only: it changes the numbers beyond rounding, and is never a default.

    Parameters
    ----------
    precision : str, optional
        One of :data:`PRECISIONS`; default: the environment variable ``PCSM_PRECISION``, or "auto".

    Returns
    -------
    str
    """
    if precision is None:
        return check_choice(os.environ.get(PRECISION_VARIABLE, "auto"), PRECISION_VARIABLE, PRECISIONS)
    return check_choice(precision, "precision", PRECISIONS)


def describe_training_path(precision: str | None = None) -> str:
    """A short description of the path :func:`training_precision` selects, for provenance records."""
    return {
        "auto": "float32, channels_last for convolutions",
        "float32": "float32, default memory layout",
        "bfloat16": "bfloat16 autocast (float32 weights), channels_last for convolutions",
    }[training_precision(precision)]


def _memory_format(precision: str) -> torch.memory_format:
    """The layout of 4-D weights and batches on this path."""
    return torch.contiguous_format if precision == "float32" else torch.channels_last


def place_model(model: nn.Module, precision: str, device: torch.device | None = None) -> nn.Module:
    """Move ``model`` to ``device`` (None: where it is) with its 4-D weights in the layout of the path
    ``precision`` (:meth:`torch.nn.Module.to` leaves other tensors' layout alone); the model."""
    if device is None:
        return model.to(memory_format=_memory_format(precision))
    return model.to(device, memory_format=_memory_format(precision))


def _place_batch(x: torch.Tensor, precision: str, device: torch.device) -> torch.Tensor:
    """A batch on ``device``, image batches (4-D) in the path's layout."""
    x = x.to(device)
    return x.contiguous(memory_format=_memory_format(precision)) if x.dim() == 4 else x


def _autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """bfloat16 autocast on the "bfloat16" path, else nothing."""
    if precision == "bfloat16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def seed_everything(seed: int) -> torch.Generator:
    """Seed torch and numpy globally and return a CPU generator for data shuffling.

    Parameters
    ----------
    seed : int
        In [0, 2**63 - 1] (Python or numpy integer).

    Returns
    -------
    torch.Generator
        A CPU generator seeded with ``seed``.
    """
    seed = check_seed(seed)
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    return torch.Generator().manual_seed(seed)


def default_batch_size(n_train: int, steps: int = 50, largest: int = 500) -> int:
    """:math:`n_{train} / \\mathrm{steps}` clipped to [32, ``largest``]: about ``steps`` steps per epoch
    on small data, batches of ``largest`` on large."""
    return int(min(largest, max(32, n_train // steps)))


@validate_params(n_folds=partial(check_positive_int, minimum=2), seed=check_seed)
def stratified_folds(labels: np.ndarray, n_folds: int, seed: int) -> np.ndarray:
    """Fold index in [0, ``n_folds``) for every sample, each class spread evenly over the folds.

    Within a class of size c, fold f receives the samples at positions i < c with i mod n_folds = f of a
    seeded permutation, so fold sizes per class do not depend on ``seed``. ``labels`` is a 1-D array of
    integer labels (any values); ``n_folds`` >= 2.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.dtype.kind not in "biu":
        raise ValueError(f"labels: expected a 1-D array of integer labels, got shape {labels.shape} "
                         f"and dtype {labels.dtype}")
    rng = np.random.default_rng(seed)
    folds = np.empty(labels.shape[0], dtype=np.int64)
    for k in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == k))
        folds[idx] = np.arange(idx.shape[0]) % n_folds
    return folds


def holdout_size(class_size: int, fraction: float) -> int:
    """Samples of one class that :func:`stratified_holdout` holds out: ``round(fraction * class_size)``."""
    return round(fraction * class_size)


def check_validation_splits(codes: np.ndarray, n_folds: int, val_fraction: float) -> None:
    """Refuse, before any training, a ``val_fraction`` that leaves the validation or the fitting split of
    some fold's training part empty (:func:`stratified_folds`, then :func:`stratified_holdout`)."""
    counts = np.bincount(codes)
    for fold in range(n_folds):
        train = counts - (counts // n_folds + (fold < counts % n_folds))
        val = sum(holdout_size(int(c), val_fraction) for c in train)
        if val == 0 or val == train.sum():
            raise ValueError(
                f"val_fraction: {val_fraction} of the {train.sum()} training samples of fold {fold + 1} "
                f"leaves {'no validation' if val == 0 else 'no training'} samples; choose a val_fraction "
                "that leaves both (or give more samples per class)"
            )


def stratified_holdout(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of a stratified ``fraction`` of the samples (:func:`holdout_size` per class)."""
    rng = np.random.default_rng(seed)
    mask = np.zeros(labels.shape[0], dtype=bool)
    for k in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == k))
        mask[idx[: holdout_size(idx.shape[0], fraction)]] = True
    return mask


class EarlyStopping:
    """Early stopping on a validation loss (lower is better) that keeps the best weights.

    Call :meth:`update` once per epoch with the epoch's validation loss and the model; it returns True
    once ``patience`` epochs in a row brought no strictly lower loss (never, for ``patience=None``).
    :meth:`restore` loads the weights of the best epoch back into the model. A quantity to maximise
    (a bound) is passed negated.

    Parameters
    ----------
    patience : int or None
        Number of epochs without improvement after which to stop; ``None`` never stops.

    Attributes
    ----------
    best_loss : float
        The lowest loss seen (``inf`` before the first finite one).
    best_epoch : int or None
        The 0-based epoch of ``best_loss``.
    """

    def __init__(self, patience: int | None = None) -> None:
        self.patience = None if patience is None else check_positive_int(patience, "patience")
        self.best_loss = math.inf
        self.best_epoch: int | None = None
        self.stale = 0
        self._epoch = -1
        self._state: dict[str, Any] | None = None

    def update(self, loss: float, model: nn.Module) -> bool:
        """Record this epoch's ``loss``, copy the weights of ``model`` when it is the best so far, and
        return whether to stop."""
        self._epoch += 1
        if loss < self.best_loss:
            self.best_loss, self.best_epoch, self.stale = float(loss), self._epoch, 0
            self._state = copy.deepcopy(model.state_dict())
        else:
            self.stale += 1
        return self.patience is not None and self.stale >= self.patience

    def restore(self, model: nn.Module) -> bool:
        """Load the best epoch's weights into ``model``; False (model unchanged) when no loss was finite."""
        if self._state is None:
            return False
        model.load_state_dict(self._state)
        return True


@dataclass
class TrainingHistory:
    """Per-epoch training loss, and validation loss/accuracy when a validation split was given.

    Attributes
    ----------
    train_loss, val_loss, val_accuracy : list of float
        One entry per epoch run.
    best_epoch : int or None
        The 0-based epoch of the lowest validation loss.
    """

    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    best_epoch: int | None = None


@torch.no_grad()
def predict_logits(
    model: nn.Module, x: torch.Tensor, batch_size: int = 4096, device: torch.device | None = None,
    precision: str | None = None,
) -> torch.Tensor:
    """Logits of ``model`` on ``x``, computed in batches of ``batch_size`` on ``device`` (default: the
    model's) in float32 on the memory layout of ``precision`` (default :func:`training_precision`; the
    layout the network was trained in), returned on the CPU as float32."""
    precision = training_precision(precision)
    device = device or next(model.parameters()).device
    place_model(model, precision).eval()
    outs = [model(_place_batch(x[i : i + batch_size], precision, device)).float().cpu()
            for i in range(0, len(x), batch_size)]
    return torch.cat(outs)


def _check_training_data(
    model: nn.Module, x: Any, y: Any, validation: tuple[torch.Tensor, torch.Tensor] | None,
    patience: int | None, loss: str, prior: Any,
) -> tuple[torch.Tensor, Prior | None]:
    """Refuse, by name, what would otherwise fail inside the loop or train on nonsense: x and y must be
    tensors, x finite and of a shape the model takes, y one integer label per row within the model's
    outputs and, for "pc-softmax", of a class the prior gives mass; the same of ``validation``.

    Returns
    -------
    (torch.Tensor, Prior or None)
        y as int64 labels, and the prior parsed for "pc-softmax" (else ``prior`` as given).
    """
    check_tensor(x, "x")
    check_label_count(check_tensor(y, "y"), len(x), "y", "row of x")
    if len(x) == 0:
        raise ValueError("x: no training samples")
    if patience is not None:
        check_positive_int(patience, "patience")
        if validation is None:
            raise ValueError("patience: early stopping needs a validation split")
    n_outputs = _output_count(model, x)
    labels = _checked_split(x, y, n_outputs, "x", "y")
    if loss == "pc-softmax" and prior is not None:
        prior = as_prior(prior, n_outputs)
        check_prior_covers(prior.p, labels)
    if validation is not None:
        if not isinstance(validation, (tuple, list)) or len(validation) != 2:
            raise ValueError("validation: expected an (x, y) pair of tensors")
        xv, yv = check_tensor(validation[0], "validation x"), check_tensor(validation[1], "validation y")
        if len(xv) == 0 or len(xv) != len(yv):
            raise ValueError(f"validation: expected a non-empty (x, y) pair of equal length, got {len(xv)} "
                             f"and {len(yv)} samples")
        valid_labels = _checked_split(xv, yv, n_outputs, "validation x", "validation y")
        if isinstance(prior, Prior):
            check_prior_covers(prior.p, valid_labels, "prior")
    return labels, prior


def _checked_split(
    x: torch.Tensor, y: torch.Tensor, n_outputs: int, x_name: str, y_name: str
) -> torch.Tensor:
    """Finite ``x`` and its labels ``y`` as int64 in [0, ``n_outputs``) (the model's outputs)."""
    check_finite(x, x_name)
    return as_label_tensor(y, y_name, n_outputs)


@torch.no_grad()
def _output_count(model: nn.Module, x: torch.Tensor) -> int:
    """The number of outputs (classes) of ``model``, from one row of ``x`` scored in eval mode (no
    dropout, no batch-statistics update, no random numbers drawn); refused naming x when the model
    does not take rows of x's shape and dtype."""
    training = model.training
    parameter = next(model.parameters(), None)
    row = x[:1].detach() if parameter is None else x[:1].detach().to(parameter.device)
    try:
        out = model.eval()(row)
    except (RuntimeError, TypeError, ValueError) as error:
        raise ValueError(f"x: the model does not take rows of shape {tuple(x.shape[1:])} and dtype "
                         f"{x.dtype} ({error})") from error
    finally:
        model.train(training)
    if out.ndim != 2:
        raise ValueError(f"model: expected outputs of shape (n, M), got {tuple(out.shape)}")
    return int(out.shape[1])


def train_epoch(
    model: nn.Module, criterion: Callable, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
    order: torch.Tensor, batch_size: int, device: torch.device, epoch: int, precision: str,
) -> float:
    """One pass over ``x`` in the given ``order`` (each batch gathered by index, then placed on ``device``
    in the layout of ``precision``); the mean training loss. ``model`` is already placed
    (:func:`train_classifier` does it; ``pcsm bench train`` times this loop). A non-finite output means
    the optimiser diverged, and is refused naming the learning rate."""
    model.train()
    total = 0.0
    for start in range(0, len(x), batch_size):
        idx = order[start : start + batch_size]
        out, batch_loss = training_step(model, criterion, opt, x[idx], y[idx].to(device), precision, device)
        if not torch.isfinite(out).all():
            raise ValueError(
                f"lr: the network's outputs became NaN or infinite in epoch {epoch + 1} (training "
                "diverged); use a smaller learning rate"
            )
        total += batch_loss.item() * len(idx)
    return total / len(x)


def training_step(
    model: nn.Module, criterion: Callable, opt: torch.optim.Optimizer, xb: torch.Tensor, yb: torch.Tensor,
    precision: str, device: torch.device,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimiser step on the batch ``(xb, yb)`` along the path of ``precision`` (layout, autocast);
    the network's output and the batch loss, both still attached. The loss is taken in float32."""
    opt.zero_grad(set_to_none=True)
    with _autocast(precision, device):
        out = model(_place_batch(xb, precision, device))
    batch_loss = criterion(out.float(), yb)
    batch_loss.backward()
    opt.step()
    return out, batch_loss


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
    device: Any = None,
    progress: bool | str = False,
    precision: str | None = None,
) -> TrainingHistory:
    """Train ``model`` in place to minimise the mean ``loss`` over minibatches.

    Parameters
    ----------
    model : torch.nn.Module
        The network, initialised by the caller (call :func:`seed_everything` before building it).
    x, y : torch.Tensor
        Training inputs and integer labels (n,). Tensors that require grad are detached.
    loss : {"softmax", "pc-softmax"}
        The training loss (see :func:`pcsm.core.losses.make_loss`).
    prior : Prior or sequence of probabilities, optional
        :math:`P(y)` for "pc-softmax".
    optimizer : callable, optional
        Maps the parameters to an optimiser (default Adam, lr 1e-3).
    scheduler : callable, optional
        Maps the optimiser to an LR scheduler stepped once per epoch.
    epochs, batch_size : int
        At most ``epochs`` passes over the data in minibatches of ``batch_size``.
    seed : int
        Seeds the shuffling.
    validation : (x, y) pair of tensors, optional
        Scored after every epoch (loss and accuracy in the history).
    patience : int, optional
        With ``validation``: stop after ``patience`` epochs without a lower validation loss and restore
        the best weights (:class:`EarlyStopping`).
    device : None, "auto", "cpu", "cuda", "cuda:N" or torch.device
        Where to train (see :func:`resolve_device`).
    progress : bool or str
        True or a description shows one text tqdm bar on stdout, advancing once per epoch.
    precision : {"auto", "float32", "bfloat16"}, optional
        The numeric path (see :func:`training_precision`); default ``$PCSM_PRECISION``, or "auto":
        float32, convolutional networks in ``channels_last``. The model is left in that layout.

    Returns
    -------
    TrainingHistory
    """
    check_positive_int(epochs, "epochs")
    check_positive_int(batch_size, "batch_size")
    y, prior = _check_training_data(model, x, y, validation, patience, loss, prior)
    precision = training_precision(precision)
    generator = seed_everything(seed)
    device = resolve_device(device)
    x, y = x.detach(), y.detach()
    place_model(model, precision, device)
    criterion = make_loss(loss, prior)
    opt = (optimizer or (lambda params: torch.optim.Adam(params, lr=1e-3)))(model.parameters())
    sched = scheduler(opt) if scheduler else None
    history, stopper = TrainingHistory(), EarlyStopping(patience)
    bar = tqdm(range(epochs), desc=progress if isinstance(progress, str) else "epochs",
               disable=not progress, mininterval=0, leave=True, file=sys.stdout)
    for epoch in bar:
        order = torch.randperm(len(x), generator=generator)
        history.train_loss.append(
            train_epoch(model, criterion, opt, x, y, order, batch_size, device, epoch, precision))
        if sched is not None:
            sched.step()
        postfix = {"loss": f"{history.train_loss[-1]:.4f}"}
        stop = False
        if validation is not None:
            stop = _validate(model, criterion, validation, device, precision, history, stopper)
            postfix.update(val_loss=f"{history.val_loss[-1]:.4f}", val_acc=f"{history.val_accuracy[-1]:.3f}")
        bar.set_postfix(postfix, refresh=False)
        if stop:
            break
    bar.close()
    if patience is not None:
        stopper.restore(model)
    return history


def _validate(
    model: nn.Module, criterion: Callable, validation: tuple[torch.Tensor, torch.Tensor],
    device: torch.device, precision: str, history: TrainingHistory, stopper: EarlyStopping,
) -> bool:
    """Score the validation split into ``history``; whether early stopping says stop."""
    logits = predict_logits(model, validation[0].detach(), device=device, precision=precision)
    yv = validation[1].detach().cpu()
    history.val_loss.append(float(criterion(logits, yv)))
    history.val_accuracy.append(float((logits.argmax(1) == yv).float().mean()))
    stop = stopper.update(history.val_loss[-1], model)
    history.best_epoch = stopper.best_epoch
    return stop
