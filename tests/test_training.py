import numpy as np
import pytest
import torch

from pcsm.core.estimators import mi_from_logits
from pcsm.core.gaussian import paper_mixture
from pcsm.core.models import LeNet, mlp
from pcsm.core.training import predict_logits, seed_everything, train_classifier


def gaussian_data(n: int, seed: int):
    mixture = paper_mixture(1, balanced=False)
    x, y = mixture.sample(n, seed)
    return mixture, torch.from_numpy(x).float(), torch.from_numpy(y)


def test_training_learns_and_is_seeded():
    mixture, x, y = gaussian_data(4000, 0)
    runs = []
    for _ in range(2):
        seed_everything(3)
        model = mlp(1, 5, hidden=(32,))
        history = train_classifier(model, x, y, loss="pc-softmax", prior=mixture.priors,
                                   epochs=8, batch_size=256, seed=3,
                                   optimizer=lambda p: torch.optim.Adam(p, lr=1e-2))
        runs.append((history.train_loss, predict_logits(model, x)))
    assert runs[0][0] == runs[1][0]
    torch.testing.assert_close(runs[0][1], runs[1][1])
    assert runs[0][0][-1] < runs[0][0][0]
    accuracy = (runs[0][1].argmax(1) == y).float().mean().item()
    assert accuracy > mixture.bayes_accuracy(100_000, 0) - 0.05


def test_pc_softmax_training_estimates_mutual_information():
    mixture, x, y = gaussian_data(20_000, 1)
    _, xt, yt = gaussian_data(20_000, 2)
    model = mlp(1, 5, hidden=(32, 32))
    train_classifier(model, x, y, loss="pc-softmax", prior=mixture.priors, epochs=15, batch_size=500, seed=0,
                     optimizer=lambda p: torch.optim.Adam(p, lr=3e-3))
    estimate = mi_from_logits(predict_logits(model, xt), yt, prior=mixture.priors)
    gt, _ = mixture.mutual_information(200_000, 0)
    assert estimate <= gt + 0.02
    assert estimate > gt - 0.06


def test_early_stopping_restores_the_best_epoch():
    mixture, x, y = gaussian_data(2000, 3)
    _, xv, yv = gaussian_data(2000, 4)
    model = mlp(1, 5, hidden=(16,))
    history = train_classifier(model, x, y, epochs=30, batch_size=100, seed=0, validation=(xv, yv),
                               patience=2, optimizer=lambda p: torch.optim.Adam(p, lr=5e-2))
    assert len(history.val_loss) <= 30
    assert history.best_epoch is not None
    best = history.val_loss[history.best_epoch]
    assert best == min(history.val_loss)
    restored = torch.nn.functional.cross_entropy(predict_logits(model, xv), yv).item()
    assert restored == pytest.approx(best, rel=1e-5)


def test_lenet_shapes():
    assert LeNet()(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


def test_bad_arguments_are_refused_by_name():
    _, x, y = gaussian_data(100, 0)
    model = mlp(1, 5)
    with pytest.raises(ValueError, match="epochs: must be >= 1"):
        train_classifier(model, x, y, epochs=0)
    with pytest.raises(ValueError, match="y: expected 100 labels"):
        train_classifier(model, x, y[:50])
    with pytest.raises(ValueError, match="patience: early stopping needs a validation split"):
        train_classifier(model, x, y, patience=3)
    with pytest.raises(ValueError, match="loss: unknown value"):
        train_classifier(model, x, y, loss="focal")
    with pytest.raises(ValueError, match="in_dim: must be >= 1"):
        mlp(0, 5)
    with pytest.raises(ValueError, match="prior: must sum to 1"):
        train_classifier(model, x, y, loss="pc-softmax", prior=np.full(5, 0.3))
