"""Tests of ``pcsm bench train``: its FLOP count, its report's shape, and that a compiler failure or
time-out is recorded rather than raised. No timing is asserted: speed targets live in the report."""

from __future__ import annotations

import json

import pytest
import torch

from pcsm.__main__ import main
from pcsm.core.models import LeNet, mlp
from pcsm.experiments.bench_train import (LEVERS, NETWORKS, QUICK, STACK, StackedRun, compiled_levers, network,
                                          step_flops)


def test_step_flops_count_every_matmul_and_convolution_three_times():
    per_image = 2 * (20 * 24 * 24 * 25 + 50 * 8 * 8 * 20 * 25 + 800 * 500 + 500 * 10)
    assert step_flops(LeNet(), torch.zeros(64, 1, 28, 28)) == 3 * 64 * per_image
    assert step_flops(mlp(10, 5), torch.zeros(100, 10)) == 3 * 100 * 2 * (10 * 100 + 2 * 100 * 100 + 100 * 5)


def test_quick_benchmark_writes_a_report_with_every_network_and_lever(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("PCSM_PRECISION", raising=False)
    path = tmp_path / "bench-train.json"
    assert main(["bench", "train", "--quick", "--output", str(path)]) == 0
    report = json.loads(path.read_text())
    assert {"machine", "timing", "matmul_gflops", "library_path", "networks", "choice"} <= set(report)
    assert report["matmul_gflops"] > 0
    assert [net["network"] for net in report["networks"]] == [spec.name for spec in NETWORKS]
    for net in report["networks"]:
        assert {"batch_size", "step_gflop", "compute_limit_ms", "library_default", "levers"} <= set(net)
        rows = {row["lever"]: row for row in net["levers"]}
        assert set(rows) == set(LEVERS)
        assert rows["float32"]["speedup"] == 1.0
        for row in rows.values():
            assert {"ms_per_step", "speedup", "times_compute_limit"} <= set(row)
            assert row["ms_per_step"] is None or row["ms_per_step"] > 0
            assert row["ms_per_step"] is not None or row["note"]
    lenet = report["networks"][0]
    assert lenet["library_default"] == "channels_last"
    assert {row["lever"]: row for row in lenet["levers"]}["channels_last"]["ms_per_step"] is not None
    assert "lenet" in capsys.readouterr().out


def test_a_compile_that_does_not_finish_in_its_budget_is_recorded_not_raised():
    rows = compiled_levers(["mlp-100"], QUICK, budget_s=0.5)
    assert rows["mlp-100"]["seconds"] is None
    assert "compile budget" in rows["mlp-100"]["note"]


def test_the_stacked_lever_computes_each_copys_own_loss():
    """Copy k of the stacked step is network seed k on its own batch, as if trained alone."""
    spec = network("mlp-100")
    run = StackedRun(spec, QUICK)
    x, y = run.x[:, : spec.batch_size], run.y[:, : spec.batch_size]
    losses, _ = run.loss(run.params, run.buffers, x, y)
    for k in range(STACK):
        model, criterion = spec.model(k)
        assert losses[k].item() == pytest.approx(criterion(model(x[k]), y[k]).item(), rel=1e-5)
    first = next(iter(run.params.values()))
    assert not torch.equal(first[0], first[1])  # distinct initialisations
