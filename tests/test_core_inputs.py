"""Issue 11, core library: bad input is refused by pcsm with the parameter named (one table per module)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pcsm.core._checks import as_label_tensor, check_positive_float, check_prior_covers
from pcsm.core.losses import (
    logit_adjusted_cross_entropy,
    pc_log_softmax,
    pc_softmax_cross_entropy,
)
from pcsm.core.models import mlp
from pcsm.core.training import seed_everything, train_classifier

PRIOR = [0.2, 0.3, 0.5]


def test_integer_and_numpy_logits_give_finite_pc_log_softmax():
    expected = pc_log_softmax(torch.tensor([[1.0, 2.0, 3.0]], dtype=torch.float64), PRIOR)
    for logits in (torch.tensor([[1, 2, 3]]), np.array([[1, 2, 3]]), np.array([[1.0, 2.0, 3.0]]), [[1, 2, 3]]):
        out = pc_log_softmax(logits, PRIOR)
        assert torch.isfinite(out).all()
        torch.testing.assert_close(out, expected)


def test_float32_logits_keep_their_dtype_and_values():
    logits = torch.randn(4, 3, generator=torch.Generator().manual_seed(0))
    out = pc_log_softmax(logits, PRIOR)
    assert out.dtype == torch.float32
    assert torch.equal(out, logits - torch.logsumexp(logits + torch.tensor(PRIOR).log(), 1, keepdim=True))


def _train(**kwargs):
    x, y = torch.randn(20, 2), torch.randint(0, 2, (20,))
    train_classifier(mlp(2, 2, (4,)), x, y, **{"epochs": 1, **kwargs})


BAD_INPUTS = [
    ("reduction", lambda: pc_softmax_cross_entropy(torch.zeros(2, 3), [0, 1], PRIOR, reduction="bogus")),
    ("reduction", lambda: logit_adjusted_cross_entropy(torch.zeros(2, 3), [0, 1], PRIOR, reduction="bogus")),
    ("logits", lambda: pc_log_softmax([["a", "b"]], [0.5, 0.5])),
    ("labels", lambda: pc_softmax_cross_entropy(torch.zeros(2, 3), ["a", "b"], PRIOR)),
    ("labels", lambda: logit_adjusted_cross_entropy(torch.zeros(2, 3), [0, 1, 2], PRIOR)),
    ("y", lambda: as_label_tensor(np.array(["cat", "dog"]), "y", 2)),
    ("y", lambda: as_label_tensor(np.array([0, None]), "y", 2)),
    ("batch_size", lambda: _train(batch_size=0)),
    ("patience", lambda: _train(patience=0, validation=(torch.randn(4, 2), torch.zeros(4, dtype=torch.long)))),
    ("patience", lambda: _train(patience=-2, validation=(torch.randn(4, 2), torch.zeros(4, dtype=torch.long)))),
    ("seed", lambda: _train(seed=-1)),
    ("seed", lambda: seed_everything(-1)),
    ("lr", lambda: check_positive_float(-1.0, "lr")),
    ("lr", lambda: check_positive_float(float("nan"), "lr")),
    ("lr", lambda: check_positive_float(0, "lr")),
    ("lr", lambda: check_positive_float("fast", "lr")),
    ("prior", lambda: check_prior_covers(np.array([1.0, 0.0]), torch.tensor([0, 1]))),
]


@pytest.mark.parametrize("name, call", BAD_INPUTS, ids=[f"{i}-{n}" for i, (n, _) in enumerate(BAD_INPUTS)])
def test_bad_input_is_refused_by_name(name, call):
    with pytest.raises(ValueError, match=rf"^{name}:"):
        call()
