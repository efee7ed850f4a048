r"""The authors' own Table 1: their released networks, and their training recipe run again.

Two ways to reproduce Table 1 of the paper without this book's estimator:

* **The authors' networks** (:func:`evaluate_networks`): the twelve trained MLPs of the authors'
  repository, shipped unchanged in ``authors_networks/`` (:func:`load_network` refuses a file whose
  SHA-256 differs from :data:`CHECKSUMS` and downloads the pinned files when the folder is missing),
  scored on fresh draws of their mixture. The MI is read out as the paper does,

  .. math::

      \hat I = \frac1n \sum_i \log \frac{e^{f(x_i, y_i)}}{\sum_{y'} Q(y') e^{f(x_i, y')}},

  with :math:`Q` the training prior 1:2:3:4:5 for the PC-softmax network and the uniform prior for a
  softmax network (:math:`\log \mathrm{softmax}_y + \log M`, the balanced formula); the accuracy is the
  argmax of the raw logits.
* **The authors' recipe** (:func:`train_recipe`): the released script's training, run again with seeds:
  the same MLP, Adam, batch 2 000, 100 epochs, the loss :math:`-\log(q_y + 10^{-6})` with
  :math:`q` softmax or PC-softmax, gradients never cleared between steps (the script has no
  ``zero_grad()``), a test set one fifth of the training set drawn afresh, and the checkpoint of the
  best *test* accuracy, scored on that test set.
"""

from __future__ import annotations

import copy
import hashlib
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from pcsm.core._checks import check_choice, check_positive_float, check_positive_int, check_bool
from pcsm.core.gaussian import GaussianMixture, paper_mixture
from pcsm.core.losses import pc_log_softmax
from pcsm.core.models import mlp
from pcsm.core.training import seed_everything, set_threads
from pcsm.experiments.paper import PAPER_ROUNDING
from pcsm.experiments.parallel import FROM_ENV, map_runs

NETWORKS_DIR = Path(__file__).with_name("authors_networks")
SOURCE_COMMIT = "5c77c0bda6d5652e2d525e1acf1606d67d047cfd"
SOURCE_URL = ("https://raw.githubusercontent.com/kfzyqin/Research-Softmax-with-Mutual-Information/"
              f"{SOURCE_COMMIT}/softmax_MI_estimator")
DOWNLOAD_DIR_ENV = "PCSM_DATA"  # where downloaded networks go (default: ~/.cache/pcsm)
DIMS = (1, 2, 5, 10)
N_CLASSES = 5
HIDDEN = (100, 100, 100)
#: The network kinds: (training prior, training loss).
KINDS = {"softmax": ("imbalanced", "softmax"), "pc-softmax": ("imbalanced", "pc-softmax"),
         "balanced": ("balanced", "softmax")}
#: The paper's test sets: one fifth of 10 000 per class (balanced) or of 5 000 ... 25 000 (imbalanced).
PAPER_TEST_SIZE = {"imbalanced": 15_000, "balanced": 10_000}
#: SHA-256 of every released file (the folder's SHA256SUMS; a test keeps the two equal).
CHECKSUMS = {
    "pretrained_models/balanced_dataset/class_net_best_lat_1.ckpt":
        "ab62d34301efd1c0d0e7aa4dec11d6c02f8895f79a307c0a7cfb2b13e96106c6",
    "pretrained_models/balanced_dataset/class_net_best_lat_10.ckpt":
        "c8cf1df2c3e414bc27f50c08710f5e63faa43b24813916c429b9a1a74dfae50d",
    "pretrained_models/balanced_dataset/class_net_best_lat_2.ckpt":
        "8d9d080c4e02c3fc18eb3f97457b323ffaa306c239a5917cbe772bb145f7b02d",
    "pretrained_models/balanced_dataset/class_net_best_lat_5.ckpt":
        "aa063e2e4dd270690194fe928c18ce5bc3fb46795f4dd6ff74189976f9f1f065",
    "pretrained_models/imbalanced_dataset/pc_softmax/lat-1/class_net_best_emp.ckpt":
        "ff905d3b0f1fe17a59c3b9246f6f77396fb49671a9330f2fa8cf893b6b37ae97",
    "pretrained_models/imbalanced_dataset/pc_softmax/lat-10/class_net_best_emp.ckpt":
        "9ece1b244a7dad971be65ff112516308942d9a682b7c768aefdc0ee2d41c6869",
    "pretrained_models/imbalanced_dataset/pc_softmax/lat-2/class_net_best_emp.ckpt":
        "349ca44e4e42358cb4e81b08f06a26617310e5862821d683b6d001b92ae04090",
    "pretrained_models/imbalanced_dataset/pc_softmax/lat-5/class_net_best_emp.ckpt":
        "aeaa3080f349c9099e49b5ff6a6ebeaf27ace9abf5d5ec55bc805db436cc774e",
    "pretrained_models/imbalanced_dataset/traditional_softmax/lat-1/class_net_best_tra.ckpt":
        "b490a5d237745ad42c1c57202267fa1857297f509ce12c129e7a0be11ad3166a",
    "pretrained_models/imbalanced_dataset/traditional_softmax/lat-10/class_net_best_tra.ckpt":
        "cfebab887a7f39b6b23b6ee400fba1a5a3a27f412a58240ac97a76c014f2703a",
    "pretrained_models/imbalanced_dataset/traditional_softmax/lat-2/class_net_best_tra.ckpt":
        "ba86486cfbb34eab08ba878698ba35c3ac2bb282c93293b470a84636f463b2d9",
    "pretrained_models/imbalanced_dataset/traditional_softmax/lat-5/class_net_best_tra.ckpt":
        "fe1ba126cf3e70d4fb9b96747b0996b931f33b9759bd3933ea8a75d053fa0b3c",
}


def network_path(kind: str, dim: int) -> str:
    """The released file of a network, relative to the networks folder."""
    check_choice(kind, "kind", tuple(KINDS))
    dim = check_positive_int(dim, "dim")
    if dim not in DIMS:
        raise ValueError(f"dim: the authors released networks for d in {DIMS}, not {dim}")
    if kind == "balanced":
        return f"pretrained_models/balanced_dataset/class_net_best_lat_{dim}.ckpt"
    folder, suffix = ("pc_softmax", "emp") if kind == "pc-softmax" else ("traditional_softmax", "tra")
    return f"pretrained_models/imbalanced_dataset/{folder}/lat-{dim}/class_net_best_{suffix}.ckpt"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def verified(path: Path, relative: str) -> Path:
    """``path`` when its SHA-256 is the pinned one of ``relative``; else a ValueError naming the file."""
    found = _sha256(path)
    if found != CHECKSUMS[relative]:
        raise ValueError(f"{path}: SHA-256 {found} differs from the pinned {CHECKSUMS[relative]} of the "
                         f"authors' file {relative} (commit {SOURCE_COMMIT[:12]}); the file is not theirs")
    return path


def download_dir() -> Path:
    """Where :func:`network_file` puts downloaded networks: ``$PCSM_DATA/authors_networks`` or
    ``~/.cache/pcsm/authors_networks``."""
    root = os.environ.get(DOWNLOAD_DIR_ENV) or Path.home() / ".cache" / "pcsm"
    return Path(root) / "authors_networks"


def _download(relative: str, target: Path, url: str) -> Path:
    """Fetch ``url/relative`` into ``target``, checked before it takes the final name (a file that fails
    the check is removed, so nothing half-written stays behind)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    try:
        with urllib.request.urlopen(f"{url}/{relative}", timeout=60) as response:
            partial.write_bytes(response.read())
        verified(partial, relative)
    except BaseException as error:
        partial.unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise OSError(f"{url}/{relative}: download failed ({error})") from None
        raise
    partial.replace(target)
    return target


def network_file(kind: str, dim: int, folder: Path | None = None, url: str = SOURCE_URL,
                 downloads: Path | None = None) -> Path:
    """The checked file of one released network: from ``folder`` (default the shipped
    :data:`NETWORKS_DIR`), else from ``downloads`` (default :func:`download_dir`), fetching it from
    ``url`` (the authors' repository at the pinned commit) when it is in neither."""
    relative = network_path(kind, dim)
    for base in (Path(folder) if folder is not None else NETWORKS_DIR, downloads or download_dir()):
        if (base / relative).is_file():
            return verified(base / relative, relative)
    return _download(relative, (downloads or download_dir()) / relative, url)


def load_network(kind: str, dim: int, **where: Any) -> nn.Sequential:
    """One released network as :func:`pcsm.core.models.mlp` (d -> 100 -> 100 -> 100 -> 5), weights
    loaded from :func:`network_file` (``where``: its ``folder``, ``url``, ``downloads``)."""
    path = network_file(kind, dim, **where)
    state = torch.load(path, weights_only=True, map_location="cpu")
    expected = {f"fc{i}.{p}" for i in range(1, 5) for p in ("weight", "bias")}
    if not isinstance(state, dict) or set(state) != expected:
        raise ValueError(f"{path}: expected the state dict keys {sorted(expected)}")
    net = mlp(dim, N_CLASSES, HIDDEN)
    net.load_state_dict({f"{2 * (int(key[2]) - 1)}.{key.split('.')[1]}": value for key, value in state.items()})
    return net.eval()


def readout_prior(kind: str) -> np.ndarray:
    """The prior Q of the paper's MI readout: the training prior 1:2:3:4:5 for the PC-softmax network,
    uniform (the balanced formula) for a softmax network."""
    balanced = check_choice(kind, "kind", tuple(KINDS)) != "pc-softmax"
    return paper_mixture(1, balanced=balanced).priors


def readout_terms(logits: torch.Tensor, y: np.ndarray, kind: str) -> np.ndarray:
    """Per-sample terms of the paper's MI readout: log PC-softmax of the true class under
    :func:`readout_prior` (their mean is the estimate)."""
    log_q = pc_log_softmax(logits.double(), readout_prior(kind))
    return log_q[torch.arange(len(y)), torch.as_tensor(y)].numpy()


def _draw(g: GaussianMixture, n_samples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n_samples pairs with round(n P(y)) of each class (the paper's sets are drawn class by class)."""
    return g.sample_per_class(np.rint(g.priors * n_samples).astype(np.int64), seed=seed)


@torch.no_grad()
def _score(net: nn.Module, x: np.ndarray, y: np.ndarray, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """The readout terms and the per-sample correctness (argmax of the raw logits) of ``net``."""
    logits = net(torch.as_tensor(x, dtype=torch.float32))
    return readout_terms(logits, y, kind), (logits.argmax(1).numpy() == y).astype(float)


def evaluate_networks(dims: tuple[int, ...] = DIMS, kinds: tuple[str, ...] = tuple(KINDS),
                      n_samples: int = 300_000, draws: int = 5, seed: int = 0, **where: Any) -> pd.DataFrame:
    """Each released network scored on ``draws`` fresh draws of ``n_samples`` pairs of the mixture it
    was trained on: one row per (kind, dim) with the MI readout ``mi`` and accuracy (a fraction), each
    with its standard error over all scored pairs (``mi_se``, ``accuracy_se``) and at the size of the
    paper's own test set (``mi_se_paper_test``, ``accuracy_se_paper_test``: how far the paper's one
    evaluation may lie from the network's value by sampling alone)."""
    check_positive_int(n_samples, "n_samples", minimum=1000)
    check_positive_int(draws, "draws")
    rows = []
    for kind in kinds:
        setting = KINDS[check_choice(kind, "kinds", tuple(KINDS))][0]
        for dim in dims:
            net, g = load_network(kind, dim, **where), paper_mixture(dim, balanced=setting == "balanced")
            scored = [_score(net, *_draw(g, n_samples, seed=10_000 * dim + 100 * seed + k), kind)
                      for k in range(draws)]
            terms, correct = (np.concatenate(part) for part in zip(*scored))
            paper_n = PAPER_TEST_SIZE[setting]
            rows.append({"kind": kind, "setting": setting, "dim": dim, "n_scored": len(terms),
                         "mi": terms.mean(), "mi_se": terms.std(ddof=1) / np.sqrt(len(terms)),
                         "mi_se_paper_test": terms.std(ddof=1) / np.sqrt(paper_n),
                         "accuracy": correct.mean(), "accuracy_se": correct.std(ddof=1) / np.sqrt(len(correct)),
                         "accuracy_se_paper_test": correct.std(ddof=1) / np.sqrt(paper_n)})
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class Recipe:
    """The released training script's settings (the defaults); ``lr`` is what the book varies."""

    lr: float = 1e-6  # Adam's learning rate in the released script
    epochs: int = 100
    batch_size: int = 2000
    clear_gradients: bool = False  # the released script never calls zero_grad()
    log_epsilon: float = 1e-6  # the loss is -log(q_y + log_epsilon)

    def __post_init__(self) -> None:
        check_positive_float(self.lr, "lr")
        check_positive_int(self.epochs, "epochs")
        check_positive_int(self.batch_size, "batch_size")
        check_bool(self.clear_gradients, "clear_gradients")
        check_positive_float(self.log_epsilon, "log_epsilon")


def recipe_loss(logits: torch.Tensor, y: torch.Tensor, kind: str) -> torch.Tensor:
    """The released script's loss: the mean of -log(q_y + eps), q the softmax (softmax network) or the
    PC-softmax with the training prior (PC network); eps = ``Recipe.log_epsilon``."""
    prior = paper_mixture(1, balanced=True).priors if kind != "pc-softmax" else readout_prior(kind)
    q = pc_log_softmax(logits, prior).exp()
    if kind != "pc-softmax":
        q = q / N_CLASSES  # softmax = PC-softmax under the uniform prior, divided by M
    return -torch.log(q.gather(1, y[:, None]) + Recipe.log_epsilon).mean()


def train_recipe(kind: str, dim: int, seed: int, recipe: Recipe = Recipe(), n_samples: int = 90_000
                 ) -> dict[str, Any]:
    """Train one network by the authors' recipe and score it as the paper does: ``n_samples`` pairs,
    five sixths for training and one sixth (one fifth of the training set) drawn afresh as the test
    set, both class by class; after each epoch the test accuracy picks the checkpoint; the row holds
    that checkpoint's test MI readout and accuracy and its epoch."""
    setting = KINDS[check_choice(kind, "kind", tuple(KINDS))][0]
    g = paper_mixture(check_positive_int(dim, "dim"), balanced=setting == "balanced")
    x, y = _draw(g, round(n_samples * 5 / 6), seed=2 * check_positive_int(seed, "seed", minimum=0))
    x_test, y_test = _draw(g, round(n_samples / 6), seed=2 * seed + 1)
    xt, yt = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y)
    generator = seed_everything(seed)
    net = mlp(dim, N_CLASSES, HIDDEN)
    opt = torch.optim.Adam(net.parameters(), lr=recipe.lr)
    best, best_accuracy, best_epoch = copy.deepcopy(net.state_dict()), -1.0, 0
    for epoch in range(recipe.epochs):
        net.train()
        order = torch.randperm(len(yt), generator=generator)
        for start in range(0, len(yt), recipe.batch_size):
            idx = order[start:start + recipe.batch_size]
            if recipe.clear_gradients:
                opt.zero_grad()
            recipe_loss(net(xt[idx]), yt[idx], kind).backward()
            opt.step()
        net.eval()
        accuracy = _score(net, x_test, y_test, kind)[1].mean()
        if accuracy > best_accuracy:
            best, best_accuracy, best_epoch = copy.deepcopy(net.state_dict()), accuracy, epoch + 1
    net.load_state_dict(best)
    terms, correct = _score(net, x_test, y_test, kind)
    return {"kind": kind, "setting": setting, "dim": dim, "lr": recipe.lr, "seed": seed,
            "n_train": len(y), "n_test": len(y_test), "mi": terms.mean(), "accuracy": correct.mean(),
            "best_epoch": best_epoch}


def _train_in_worker(kind: str, dim: int, seed: int, recipe: Recipe, n_samples: int) -> dict[str, Any]:
    set_threads(1)
    return train_recipe(kind, dim, seed, recipe, n_samples)


def recipe_runs(dims: tuple[int, ...], lrs: tuple[float, ...], seeds: tuple[int, ...], n_samples: int,
                epochs: int = 100, batch_size: int = 2000, kinds: tuple[str, ...] = ("softmax", "pc-softmax"),
                n_jobs: int = FROM_ENV, scheduler: str | None = None, progress: bool = True) -> pd.DataFrame:
    """:func:`train_recipe` for every kind, dim, learning rate and seed, through
    :func:`~pcsm.experiments.parallel.map_runs`: one row each."""
    jobs = [(kind, dim, seed, Recipe(lr=lr, epochs=epochs, batch_size=batch_size), n_samples)
            for lr in lrs for kind in kinds for dim in dims for seed in seeds]
    rows = map_runs(_train_in_worker, jobs, n_jobs=n_jobs, scheduler=scheduler, desc="authors' recipe",
                    progress=progress)
    return pd.DataFrame(rows)


def summarise_recipe(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean and SD over seeds of the recipe's MI readout and accuracy per (kind, dim, lr)."""
    return runs.groupby(["kind", "setting", "dim", "lr"], sort=False).agg(
        mi_mean=("mi", "mean"), mi_std=("mi", "std"), accuracy_mean=("accuracy", "mean"),
        accuracy_std=("accuracy", "std"), best_epoch=("best_epoch", "median"), n_seeds=("seed", "nunique"),
    ).reset_index()


#: Table 1's quantities, each as (network kind, "mi" or "accuracy"); the estimator of the same name in
#: chapter 02's summary is this book's estimate of it.
def network_tolerance(se: float, paper_test_se: float, rounding: float) -> float:
    """How far a released network's value may lie from the paper's number and still reproduce it:
    :math:`r + 2\\sqrt{s^2 + s_p^2}`, the paper's rounding :math:`r` plus 2 standard errors of the paper's
    own single evaluation on its test set (:math:`s_p`), ours (:math:`s`, on far more pairs) added in
    quadrature."""
    return rounding + 2 * float(np.hypot(se, paper_test_se))


QUANTITIES = {"softmax": ("softmax", "mi"), "pc-softmax": ("pc-softmax", "mi"),
              "acc_softmax": ("softmax", "accuracy"), "acc_pc-softmax": ("pc-softmax", "accuracy")}


def three_ways(paper_table: pd.DataFrame, networks: pd.DataFrame, recipe: pd.DataFrame | None,
               book: pd.DataFrame) -> pd.DataFrame:
    """Table 1 three ways, one row per (dim, quantity of :data:`QUANTITIES`): the paper's value, the
    authors' networks (:func:`evaluate_networks`, with ``networks_se``), their recipe retrained
    (:func:`summarise_recipe`, a column ``recipe_lr_<lr>`` per learning rate, the mean over seeds), this
    book's estimator (chapter 02's summary of :func:`pcsm.experiments.gaussian_mi.summarise`,
    imbalanced setting) and the truth (I(X;Y), or the Bayes accuracy for an accuracy); ``tolerance``
    is :func:`network_tolerance` of the networks' row. Accuracies in %."""
    book = book[book["setting"] == "imbalanced"].set_index(["dim", "estimator"])
    nets = networks[networks["setting"] == "imbalanced"].set_index(["dim", "kind"])
    lrs = sorted(recipe["lr"].unique()) if recipe is not None else []
    rows = []
    for _, paper_row in paper_table.iterrows():
        dim = int(paper_row["dim"])
        for quantity, (kind, what) in QUANTITIES.items():
            scale = 100.0 if what == "accuracy" else 1.0
            row = {"dim": dim, "quantity": quantity, "unit": "%" if what == "accuracy" else "nats",
                   "paper": float(paper_row[quantity])}
            net = nets.loc[(dim, kind)] if (dim, kind) in nets.index else None
            row["networks"] = scale * float(net[what]) if net is not None else np.nan
            row["networks_se"] = scale * float(net[f"{what}_se"]) if net is not None else np.nan
            row["paper_test_se"] = scale * float(net[f"{what}_se_paper_test"]) if net is not None else np.nan
            row["tolerance"] = network_tolerance(row["networks_se"], row["paper_test_se"], PAPER_ROUNDING[what])
            for lr in lrs:
                at = recipe[(recipe["lr"] == lr) & (recipe["dim"] == dim) & (recipe["kind"] == kind)]
                row[f"recipe_lr_{lr:g}"] = scale * float(at[f"{what}_mean"].iloc[0]) if len(at) else np.nan
            mine = book.loc[(dim, kind)] if (dim, kind) in book.index else None
            row["book"] = scale * float(mine[f"{what}_mean"]) if mine is not None else np.nan
            truth = book.loc[dim].iloc[0] if dim in book.index.get_level_values(0) else None
            row["truth"] = (np.nan if truth is None else
                            100 * float(truth["bayes_accuracy"]) if what == "accuracy" else float(truth["gt"]))
            rows.append(row)
    return pd.DataFrame(rows)


#: How :func:`networks_verdict` names each quantity of :data:`QUANTITIES`.
QUANTITY_NAMES = {"softmax": "the softmax network's MI readout", "pc-softmax": "the PC network's MI readout",
                  "acc_softmax": "the softmax network's accuracy", "acc_pc-softmax": "the PC network's accuracy"}


def networks_verdict(three: pd.DataFrame) -> str:
    """One sentence on how many of the paper's numbers the networks' rows of :func:`three_ways` reproduce
    (|networks - paper| within ``tolerance``), naming each that differs with both values and its
    tolerance. No full stop, so the page can go on."""
    rows = three[three["networks"].notna()]
    off = rows[(rows["networks"] - rows["paper"]).abs() > rows["tolerance"]]
    rule = "within the paper's rounding and 2 standard errors of its one test set"
    if off.empty:
        return f"The authors' networks give all {len(rows)} of the paper's numbers for them {rule}"
    details = []
    for _, row in off.iterrows():
        mi = row["unit"] == "nats"
        value, paper_value = (f"{row['networks']:.3f}", f"{row['paper']:.2f}") if mi else \
            (f"{row['networks']:.1f} %", f"{row['paper']:.0f} %")
        apart, tolerance = (f"{abs(row['networks'] - row['paper']):.3f}", f"{row['tolerance']:.3f} nats") if mi else \
            (f"{abs(row['networks'] - row['paper']):.1f}", f"{row['tolerance']:.1f} points")
        details.append(f"{QUANTITY_NAMES[row['quantity']]} at d = {int(row['dim'])} differs, {value} against "
                       f"the paper's {paper_value} ({apart} apart, where {tolerance} would reproduce it)")
    return (f"The authors' networks give {len(rows) - len(off)} of the paper's {len(rows)} numbers for them "
            f"{rule}; " + "; ".join(details))


def three_ways_headline(three: pd.DataFrame) -> dict[str, float | str]:
    """The numbers chapter 02 quotes from :func:`three_ways`: the largest |networks - paper| over the MI
    rows (``authors_max_mi_difference``) and the accuracy rows (``authors_max_acc_difference``); at the
    largest d (``authors_dim``): the softmax network's accuracy and the Bayes accuracy, the PC - softmax
    accuracy gap (points) of the networks and of the paper, and for the recipe retrained at the
    released learning rate (``recipe_released_...``) and at the largest one (``recipe_trains_...``):
    the softmax accuracy, the accuracy gap and the PC-softmax readout's error against the truth; and
    ``authors_verdict``, the sentence :func:`networks_verdict` writes."""
    mi, acc = three[three["unit"] == "nats"], three[three["unit"] == "%"]
    dim = int(three["dim"].max())
    at = acc[acc["dim"] == dim].set_index("quantity")
    numbers = {"authors_verdict": networks_verdict(three),
               "authors_max_mi_difference": float((mi["networks"] - mi["paper"]).abs().max()),
               "authors_max_acc_difference": float((acc["networks"] - acc["paper"]).abs().max()),
               "authors_dim": dim, "authors_acc_softmax": float(at.loc["acc_softmax", "networks"]),
               "authors_bayes_acc": float(at.loc["acc_softmax", "truth"]),
               "authors_acc_gap": float(at.loc["acc_pc-softmax", "networks"] - at.loc["acc_softmax", "networks"]),
               "paper_acc_gap": float(at.loc["acc_pc-softmax", "paper"] - at.loc["acc_softmax", "paper"])}
    lrs = sorted(float(c.removeprefix("recipe_lr_")) for c in three.columns if c.startswith("recipe_lr_"))
    roles = {"released": Recipe.lr, "trains": max(lrs)} if lrs else {}
    for role, lr in roles.items():
        column = f"recipe_lr_{lr:g}"
        if column not in three.columns:
            continue
        pc_mi = mi[(mi["dim"] == dim) & (mi["quantity"] == "pc-softmax")].iloc[0]
        numbers[f"recipe_{role}_lr"] = lr
        numbers[f"recipe_{role}_acc_softmax"] = float(at.loc["acc_softmax", column])
        numbers[f"recipe_{role}_acc_gap"] = float(at.loc["acc_pc-softmax", column] - at.loc["acc_softmax", column])
        numbers[f"recipe_{role}_pc_error"] = float(pc_mi[column] - pc_mi["truth"])
    return numbers
