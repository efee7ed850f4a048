"""The authors' released Table 1 networks (shipped unchanged, checksummed, downloadable) and their
training recipe."""

from __future__ import annotations

import math
import shutil

import numpy as np
import pandas as pd
import pytest
import torch

from pcsm.experiments import authors


def test_pinned_checksums_are_the_shipped_sha256sums():
    listed = {}
    for line in (authors.NETWORKS_DIR / "SHA256SUMS").read_text().splitlines():
        digest, path = line.split()
        listed[path.removeprefix("./")] = digest
    assert listed == authors.CHECKSUMS


def test_every_kind_and_dimension_names_a_pinned_file():
    paths = {authors.network_path(kind, dim) for kind in authors.KINDS for dim in authors.DIMS}
    assert paths == set(authors.CHECKSUMS)


@pytest.mark.parametrize("kind", list(authors.KINDS))
@pytest.mark.parametrize("dim", authors.DIMS)
def test_each_released_network_loads_offline_as_the_papers_mlp(kind, dim):
    net = authors.load_network(kind, dim, downloads=None)
    widths = [layer.out_features for layer in net if isinstance(layer, torch.nn.Linear)]
    assert widths == [100, 100, 100, 5]
    assert net(torch.zeros(3, dim)).shape == (3, 5)


def test_a_changed_file_is_refused_by_name(tmp_path):
    shutil.copytree(authors.NETWORKS_DIR, tmp_path / "nets")
    target = tmp_path / "nets" / authors.network_path("pc-softmax", 2)
    target.chmod(0o644)
    data = bytearray(target.read_bytes())
    data[-1] ^= 1
    target.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"class_net_best_emp\.ckpt: SHA-256 .* differs"):
        authors.load_network("pc-softmax", 2, folder=tmp_path / "nets", downloads=tmp_path / "none")


def test_a_missing_folder_downloads_the_pinned_file(tmp_path):
    downloads = tmp_path / "downloads"
    path = authors.network_file("softmax", 10, folder=tmp_path / "missing", downloads=downloads,
                                url=authors.NETWORKS_DIR.as_uri())
    assert path == downloads / authors.network_path("softmax", 10)
    assert path.read_bytes() == (authors.NETWORKS_DIR / authors.network_path("softmax", 10)).read_bytes()
    assert authors.load_network("softmax", 10, folder=tmp_path / "missing", downloads=downloads,
                                url="file:///nowhere")  # found in the download folder, no second fetch


def test_a_download_that_fails_the_check_leaves_nothing(tmp_path):
    served = tmp_path / "served"
    relative = authors.network_path("balanced", 1)
    (served / relative).parent.mkdir(parents=True)
    (served / relative).write_bytes(b"not the authors' network")
    downloads = tmp_path / "downloads"
    with pytest.raises(ValueError, match="differs from the pinned"):
        authors.network_file("balanced", 1, folder=tmp_path / "missing", downloads=downloads,
                             url=served.as_uri())
    assert not [p for p in downloads.rglob("*") if p.is_file()]


def test_an_unreachable_source_is_named(tmp_path):
    with pytest.raises(OSError, match="download failed"):
        authors.network_file("balanced", 5, folder=tmp_path / "missing", downloads=tmp_path / "d",
                             url=(tmp_path / "nothing").as_uri())


@pytest.mark.parametrize("bad, match", [(("kind", "mine"), "kind"), (("dim", 3), "dim")])
def test_unknown_networks_are_refused_by_name(bad, match):
    arguments = {"kind": "softmax", "dim": 1, **dict([bad])}
    with pytest.raises(ValueError, match=match):
        authors.network_path(**arguments)


def test_readout_is_the_balanced_formula_for_softmax_and_pc_softmax_for_the_pc_network():
    logits = torch.randn(50, 5, dtype=torch.float64)
    y = np.random.default_rng(0).integers(0, 5, 50)
    softmax = torch.log_softmax(logits, 1)[torch.arange(50), torch.as_tensor(y)].numpy() + math.log(5)
    np.testing.assert_allclose(authors.readout_terms(logits, y, "softmax"), softmax, rtol=1e-12)
    prior = np.arange(1, 6) / 15
    pc = (logits - torch.logsumexp(logits + torch.log(torch.as_tensor(prior)), 1, keepdim=True))
    np.testing.assert_allclose(authors.readout_terms(logits, y, "pc-softmax"),
                               pc[torch.arange(50), torch.as_tensor(y)].numpy(), rtol=1e-12)


def test_recipe_loss_is_the_released_scripts():
    logits = torch.randn(40, 5)
    y = torch.randint(0, 5, (40,))
    expected = -torch.log(torch.softmax(logits, 1)[torch.arange(40), y] + 1e-6).mean()
    torch.testing.assert_close(authors.recipe_loss(logits, y, "softmax"), expected)


def test_released_networks_give_the_papers_table_1_at_d_1():
    """The PC network's readout and both accuracies at d = 1 (the paper: 0.96 nats, 79 % and 79 %),
    on one small draw (SE about 0.01 nats)."""
    table = authors.evaluate_networks(dims=(1,), kinds=("softmax", "pc-softmax"), n_samples=20_000, draws=1)
    at = table.set_index("kind")
    assert at.loc["pc-softmax", "mi"] == pytest.approx(0.94, abs=0.04)
    assert at.loc["softmax", "mi"] == pytest.approx(1.11, abs=0.04)
    assert 100 * at.loc["softmax", "accuracy"] == pytest.approx(79.2, abs=1.5)
    assert (table.mi_se < table.mi_se_paper_test).all()


def test_recipe_is_seeded_and_checked():
    first = authors.train_recipe("pc-softmax", 2, 0, authors.Recipe(lr=1e-3, epochs=2), n_samples=1200)
    again = authors.train_recipe("pc-softmax", 2, 0, authors.Recipe(lr=1e-3, epochs=2), n_samples=1200)
    assert first == again
    assert (first["n_train"], first["n_test"]) == (1000, 200)
    with pytest.raises(ValueError, match="lr"):
        authors.Recipe(lr=-1)


def _three_ways_rows(networks_mi: float) -> pd.DataFrame:
    return pd.DataFrame({"dim": [1, 1], "quantity": ["pc-softmax", "acc_softmax"], "unit": ["nats", "%"],
                         "paper": [0.96, 79.0], "networks": [networks_mi, 79.4], "networks_se": [0.0004, 0.04],
                         "paper_test_se": [0.0031, 0.33]}).assign(
        tolerance=lambda t: [authors.network_tolerance(s, p, r) for s, p, r in
                             zip(t.networks_se, t.paper_test_se, (0.005, 0.5))])


def test_the_networks_verdict_counts_what_lies_within_tolerance_and_names_what_differs():
    """Tolerance at d = 1 for the PC readout: 0.005 + 2 * hypot(0.0004, 0.0031) = 0.0113 nats; 0.0110 off
    reproduces it, 0.0120 off does not (the smallest miss the sentence reports is a thousandth past it)."""
    assert authors.networks_verdict(_three_ways_rows(0.96 - 0.0110)).startswith(
        "The authors' networks give all 2 of the paper's numbers")
    sentence = authors.networks_verdict(_three_ways_rows(0.96 - 0.0120))
    assert sentence.startswith("The authors' networks give 1 of the paper's 2 numbers")
    assert "the PC network's MI readout at d = 1 differs, 0.948 against the paper's 0.96" in sentence
    assert "where 0.011 nats would reproduce it" in sentence


def test_the_page_and_the_results_page_count_alike():
    """02's sentence and 05's Table 1 verdicts apply one rule to the committed tables."""
    from pcsm.book.summary import NETWORKS, REPRODUCED, table1_rows
    from pcsm.experiments.paper import TABLE_1
    from pcsm.experiments.results import REPO_ROOT

    networks = pd.read_csv(REPO_ROOT / "results" / "gaussian-mi-authors.csv")
    book = pd.read_csv(REPO_ROOT / "results" / "gaussian-mi.csv")
    three = authors.three_ways(TABLE_1, networks, None, book)
    rows = [r for r in table1_rows(book, 3, networks) if r["source"] == NETWORKS]
    reproduced = sum(r["verdict"] == REPRODUCED for r in rows)
    sentence = authors.networks_verdict(three)
    assert len(rows) == 16
    assert f"give {reproduced} of the paper's 16" in sentence or (reproduced == 16 and "all 16" in sentence)
