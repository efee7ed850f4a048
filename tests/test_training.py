import numpy as np
import pytest
import torch

from pcsm.core.estimators import mi_from_logits
from pcsm.core.gaussian import paper_mixture
from pcsm.core.models import LeNet, mlp
from pcsm.core.training import (
    EarlyStopping,
    default_device,
    describe_training_path,
    predict_logits,
    resolve_device,
    seed_everything,
    set_threads,
    train_classifier,
    training_precision,
)


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


def test_early_stopping_stops_after_patience_and_restores_the_best_weights():
    model = torch.nn.Linear(1, 1)
    stopper = EarlyStopping(patience=2)
    stops = []
    for loss in [3.0, 2.0, 2.5, 2.0]:
        with torch.no_grad():
            model.weight.fill_(loss)
        stops.append(stopper.update(loss, model))
    assert stops == [False, False, False, True]
    assert stopper.best_epoch == 1 and stopper.best_loss == 2.0
    assert stopper.restore(model) and model.weight.item() == 2.0


def test_early_stopping_without_patience_never_stops_and_nan_never_counts_as_best():
    model = torch.nn.Linear(1, 1)
    stopper = EarlyStopping(None)
    assert not any(stopper.update(float("nan"), model) for _ in range(50))
    assert stopper.best_epoch is None and not stopper.restore(model)
    with pytest.raises(ValueError, match="^patience:"):
        EarlyStopping(0)


def test_training_goes_through_the_one_pc_softmax_normaliser(monkeypatch):
    """A change to the PC-softmax normaliser reaches the training loss (it is not written a second time
    inline): the public pc_log_softmax and the training criterion share _pc_log_softmax."""
    import pcsm.core.losses as losses

    mixture, x, y = gaussian_data(200, 0)
    calls = []
    original = losses._pc_log_softmax

    def recording(logits, log_prior):
        calls.append(logits.shape)
        return original(logits, log_prior)

    monkeypatch.setattr(losses, "_pc_log_softmax", recording)
    train_classifier(mlp(1, 5, (4,)), x, y, loss="pc-softmax", prior=mixture.priors, epochs=1, batch_size=100)
    assert len(calls) == 2


def test_training_accepts_inputs_that_require_grad_and_numpy_seeds():
    mixture, x, y = gaussian_data(200, 0)
    runs = []
    for seed in (3, np.int64(3)):
        seed_everything(seed)
        model = mlp(1, 5, (4,))
        history = train_classifier(model, x.clone().requires_grad_(True), y, epochs=2, batch_size=50, seed=seed)
        runs.append(history.train_loss)
    assert runs[0] == runs[1]


BAD_TRAINING = [
    ("seed", {"seed": 2**64}),
    ("seed", {"seed": 3.0}),
    ("device", {"device": "bogus"}),
    ("device", {"device": 3}),
    ("validation", {"validation": (torch.zeros(0, 1), torch.zeros(0, dtype=torch.long))}),
    ("precision", {"precision": "float16"}),
]


@pytest.mark.parametrize(("name", "kwargs"), BAD_TRAINING, ids=[str(k) for _, k in BAD_TRAINING])
def test_bad_training_arguments_are_refused_before_training(name, kwargs):
    _, x, y = gaussian_data(100, 0)
    model = mlp(1, 5, (4,))
    before = [p.clone() for p in model.parameters()]
    with pytest.raises(ValueError, match=f"^{name}:"):
        train_classifier(model, x, y, epochs=1, **kwargs)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_a_diverging_optimiser_is_refused_naming_the_learning_rate():
    _, x, y = gaussian_data(400, 0)
    seed_everything(0)
    with pytest.raises(ValueError, match="^lr:"):
        train_classifier(mlp(1, 5, (16,)), x * 1e3, y, epochs=20, batch_size=50,
                         optimizer=lambda p: torch.optim.SGD(p, lr=1e6))


def test_cuda_on_a_machine_without_a_gpu_is_refused_naming_device():
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(ValueError, match="^device: 'cuda' requested but no CUDA GPU"):
        resolve_device("cuda")
    with pytest.raises(ValueError, match="^device:"):
        resolve_device("cuda:1")


def test_resolve_device_accepts_the_documented_forms():
    assert resolve_device("cpu") == resolve_device(torch.device("cpu")) == torch.device("cpu")
    assert resolve_device("auto") == resolve_device(None) == default_device()


def test_pcsm_threads_that_is_not_an_integer_is_refused_naming_the_variable(monkeypatch):
    monkeypatch.setenv("PCSM_THREADS", "abc")
    with pytest.raises(ValueError, match="^PCSM_THREADS: expected a positive integer, got 'abc'"):
        set_threads()
    monkeypatch.setenv("PCSM_THREADS", "0")
    with pytest.raises(ValueError, match="^PCSM_THREADS:"):
        set_threads()
    monkeypatch.setenv("PCSM_THREADS", "1")
    assert set_threads() == 1


def lenet_data(n: int, seed: int):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, 28, 28, generator=generator), torch.randint(0, 10, (n,), generator=generator)


def trained_lenet(precision, **kwargs):
    x, y = lenet_data(96, 0)
    seed_everything(0)
    model = LeNet()
    history = train_classifier(model, x, y, epochs=2, batch_size=32, seed=0, precision=precision,
                               optimizer=lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9), **kwargs)
    return model, history


def test_the_default_path_trains_a_lenet_in_channels_last_to_the_same_predictions_as_plain_float32():
    """channels_last changes the layout, not the arithmetic: the logits agree to float rounding."""
    fast, fast_history = trained_lenet(None)
    plain, plain_history = trained_lenet("float32")
    assert fast.features[3].weight.is_contiguous(memory_format=torch.channels_last)
    assert not plain.features[3].weight.is_contiguous(memory_format=torch.channels_last)
    np.testing.assert_allclose(fast_history.train_loss, plain_history.train_loss, rtol=1e-4)
    x, _ = lenet_data(64, 1)
    torch.testing.assert_close(predict_logits(fast, x), predict_logits(plain, x), rtol=1e-4, atol=1e-4)
    assert torch.equal(predict_logits(fast, x).argmax(1), predict_logits(plain, x).argmax(1))


def test_the_default_path_leaves_fully_connected_networks_bit_for_bit_as_plain_float32():
    """The MI estimates' networks have no 4-D weights: "auto" is plain float32 for them."""
    mixture, x, y = gaussian_data(400, 0)
    logits = []
    for precision in ("auto", "float32"):
        seed_everything(0)
        model = mlp(1, 5, (16,))
        train_classifier(model, x, y, loss="pc-softmax", prior=mixture.priors, epochs=2, batch_size=50,
                         precision=precision)
        logits.append(predict_logits(model, x, precision=precision))
    assert torch.equal(logits[0], logits[1])


def test_pcsm_precision_switches_back_to_plain_float32(monkeypatch):
    monkeypatch.delenv("PCSM_PRECISION", raising=False)
    assert training_precision() == "auto"
    assert describe_training_path() == "float32, channels_last for convolutions"
    monkeypatch.setenv("PCSM_PRECISION", "float32")
    assert training_precision() == "float32" and describe_training_path() == "float32, default memory layout"
    model, history = trained_lenet(None)
    assert not model.features[3].weight.is_contiguous(memory_format=torch.channels_last)
    assert history.train_loss == trained_lenet("float32")[1].train_loss
    assert training_precision("auto") == "auto"
    monkeypatch.setenv("PCSM_PRECISION", "half")
    with pytest.raises(ValueError, match="^PCSM_PRECISION: unknown value 'half'"):
        training_precision()


def test_bfloat16_is_an_opt_in_that_trains_with_float32_weights_and_predicts_in_float32():
    mixture, x, y = gaussian_data(400, 0)
    seed_everything(0)
    model = mlp(1, 5, (16,))
    history = train_classifier(model, x, y, epochs=2, batch_size=100, precision="bfloat16")
    assert np.isfinite(history.train_loss).all()
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert predict_logits(model, x, precision="bfloat16").dtype == torch.float32
    assert describe_training_path("bfloat16").startswith("bfloat16 autocast")


def test_provenance_records_the_training_path(monkeypatch):
    """The path and precision that ran are in every provenance record and its page section."""
    from pcsm.book import provenance

    monkeypatch.setenv("PCSM_PRECISION", "float32")
    record = provenance.collect("01-bound", "smoke", {}, 1.0, "0" * 16, changes=[])
    assert record["training"] == "float32, default memory layout"
    assert "| Training | float32, default memory layout |" in provenance.as_markdown(record)
