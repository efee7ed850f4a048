"""The independent runs on a real Dask cluster (a LocalCluster of two worker processes on the loopback
interface) give the same tables, bit for bit, as on loky workers; an address nobody answers at, or a server
that accepts the connection and never replies, fails fast."""

import socket
import threading
import time

import pandas as pd
import pytest

from pcsm.experiments import bench, parallel
from pcsm.experiments.mnist.data import load_experiment_data
from pcsm.experiments.mnist.experiment import MNISTConfig, RunPlan, train_and_evaluate

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def scheduler():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        yield cluster.scheduler_address


def test_an_address_that_does_not_answer_fails_fast_and_is_named(monkeypatch):
    monkeypatch.setenv("PCSM_SCHEDULER", "tcp://127.0.0.1:9")
    start = time.perf_counter()
    with pytest.raises(ConnectionError, match=r"PCSM_SCHEDULER.*'tcp://127\.0\.0\.1:9'"):
        parallel.map_runs(abs, [(-1,)])
    assert time.perf_counter() - start < 3 * parallel.CONNECT_TIMEOUT


@pytest.fixture
def silent_server():
    """A TCP server that accepts every connection and never sends a byte; its address."""
    server = socket.create_server(("127.0.0.1", 0))
    held = []

    def accept():
        while True:
            try:
                held.append(server.accept()[0])
            except OSError:  # closed at the end of the test
                return

    threading.Thread(target=accept, daemon=True).start()
    yield f"tcp://127.0.0.1:{server.getsockname()[1]}"
    server.close()
    for connection in held:
        connection.close()


def test_a_server_that_accepts_and_never_answers_is_refused_within_seconds(silent_server):
    start = time.perf_counter()
    with pytest.raises(ConnectionError, match=f"no Dask scheduler answers at '{silent_server}' within 2 s"):
        parallel.connect(silent_server, timeout=2)
    assert time.perf_counter() - start < 3 * 2


@pytest.mark.slow
def test_bench_mi_quick_on_dask_equals_loky_bit_for_bit(scheduler):
    options = {"quick": True, "seeds": (0,), "n_samples": 2000, "n_mc": 2000,
               "estimators": ("bayes", "knn", "estimate_mi")}
    loky = pd.DataFrame(bench.bench_mi(n_jobs=2, **options)["rows"]).drop(columns="seconds")
    dask = pd.DataFrame(bench.bench_mi(scheduler=scheduler, **options)["rows"]).drop(columns="seconds")
    pd.testing.assert_frame_equal(loky, dask, check_exact=True)


def smoke_plan(n_jobs: int) -> tuple[RunPlan, int]:
    """The 03 chapter's run plan on its smoke profile and its official test size."""
    config = MNISTConfig.for_profile("smoke", n_jobs=n_jobs)
    return config.plan(), config.official_test_size


@pytest.mark.slow
def test_mnist_smoke_runs_on_dask_equal_loky_bit_for_bit(scheduler):
    plan, official_test_size = smoke_plan(n_jobs=2)
    data = load_experiment_data(plan.datasets, official_test_size)
    loky = train_and_evaluate(data, plan)
    dask = train_and_evaluate(data, plan, scheduler=scheduler)
    pd.testing.assert_frame_equal(loky, dask, check_exact=True)
