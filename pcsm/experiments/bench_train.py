"""Benchmark of one training step per kind of network in the book, per speed lever, on one CPU thread (not a
test): ``pcsm bench train [--quick] [--output FILE]``.

Networks: the authors' LeNet (SGD step, batch 64, 28 x 28 images), the paper's MLP (d = 10, hidden
(100, 100, 100), 5 classes, Adam) at batch 2000 (the paper's profile) and 100 (the default profile),
MINE's statistics network at the paper's batch 2000, and ``estimate_mi``'s default network (hidden (50, 50))
at its largest batch, 512. Levers, each timed through the library's own loop
(:func:`pcsm.core.training.train_epoch`, batches gathered by index as training does):

* ``float32``: today's path (``precision="float32"``), the reference of every speed-up;
* ``channels_last``: ``precision="auto"`` on a convolutional network (the layout lever; none for MLPs);
* ``bfloat16``: ``precision="bfloat16"``, autocast with float32 master weights;
* ``compile``: ``torch.compile`` of the network on the float32 path, in one child process with an empty
  compiler cache (what a fresh clone pays) and one time limit for all networks, cheapest step first (the
  compile time is reported, near 0 for a network whose kernels an earlier one compiled; a failure or
  time-out is recorded with its reason);
* ``in_memory``: the data permuted once per pass into one tensor, batches taken as contiguous slices,
  instead of one gather per batch;
* ``stacked``: :data:`STACK` seeded copies of the network trained as one, their parameters stacked and
  one step taken for all through ``torch.func.vmap`` of ``functional_call`` (each copy on its own batch,
  as independent seeds or cross-fits would be); its time is per model-step, so it compares with the
  others directly.

Reported per network and lever: the median time per step over several repeats after a warm-up pass, the
speed-up over ``float32``, and the ratio to the compute limit: the step's FLOPs (counted analytically,
2 m n k per matmul or convolution, times 3 for forward and backward) over this CPU's float32 matmul rate
(a 1024 x 1024 matmul on one thread).
"""

from __future__ import annotations

import copy
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from pcsm.core.baselines import StatisticsNetwork, dv_terms
from pcsm.core.losses import make_loss
from pcsm.core.models import LeNet, mlp
from pcsm.core.training import (
    describe_training_path,
    place_model,
    train_epoch,
    training_precision,
    training_step,
)
from pcsm.experiments.results import REPO_ROOT, atomic_write_text

DEFAULT_OUTPUT = REPO_ROOT / "results" / "bench-train.json"
CPU = torch.device("cpu")
LEVERS = ("float32", "channels_last", "bfloat16", "compile", "in_memory", "stacked")
PRECISION_OF = {"float32": "float32", "channels_last": "auto", "bfloat16": "bfloat16", "compile": "float32",
                "in_memory": "float32", "stacked": "float32"}
STACK = 8  # networks trained together by the stacked lever
MATMUL_SIZE = 1024
COMPILE_BUDGET_S = 120.0  # every network's torch.compile together, from an empty cache (LeNet: ~60 s)


@dataclass(frozen=True)
class Timing:
    """How much to time: ``repeats`` passes of ``batches`` steps each, after ``warmup`` passes."""

    batches: int = 5
    repeats: int = 5
    warmup: int = 1


QUICK = Timing(batches=1, repeats=1, warmup=0)  # for tests: one step per lever


@dataclass(frozen=True)
class Network:
    """One kind of network of the book at the batch it is trained with."""

    name: str
    description: str
    build: Callable[[], nn.Module]
    input_shape: tuple[int, ...]  # one sample's
    n_classes: int
    batch_size: int
    optimizer: Callable[[Any], torch.optim.Optimizer]

    def data(self, n_batches: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Seeded random inputs and labels for ``n_batches`` batches."""
        generator = torch.Generator().manual_seed(0)
        n = n_batches * self.batch_size
        x = torch.randn((n, *self.input_shape), generator=generator)
        return x, torch.randint(0, self.n_classes, (n,), generator=generator)

    def model(self, seed: int = 0) -> tuple[nn.Module, Callable]:
        """The network initialised from ``seed`` and its training criterion (MINE: the DV loss of its
        all-label scores)."""
        torch.manual_seed(seed)
        net = self.build()
        if isinstance(net, StatisticsNetwork):
            return net.net, mine_criterion(self.n_classes)
        return net, make_loss("softmax", None)


def mine_criterion(n_classes: int) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """MINE's training loss on all-label scores under a uniform prior, its moving average fixed at 1 (the
    average costs nothing measurable; :func:`pcsm.core.baselines.train_mine` has the real one)."""
    log_prior = torch.full((n_classes,), -float(torch.log(torch.tensor(float(n_classes)))))

    def criterion(scores: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        joint, log_marginal = dv_terms(scores, y, log_prior)
        return -(joint - torch.exp(log_marginal))

    return criterion


def _adam(params: Any) -> torch.optim.Optimizer:
    """MINE's optimiser (:func:`pcsm.core.baselines.train_mine`)."""
    return torch.optim.Adam(params, lr=1e-3)


def _fused_adam(params: Any) -> torch.optim.Optimizer:
    """``estimate_mi``'s optimiser (the classifiers of the MI estimates)."""
    return torch.optim.Adam(params, lr=1e-3, fused=True)


def _sgd(params: Any) -> torch.optim.Optimizer:
    """The MNIST chapter's optimiser."""
    return torch.optim.SGD(params, lr=0.01, momentum=0.9)


NETWORKS = (
    Network("lenet", "the authors' LeNet, SGD, 28 x 28 images", LeNet, (1, 28, 28), 10, 64, _sgd),
    Network("mlp-2000", "the paper's MLP (d 10, 100-100-100, 5 classes) in estimate_mi, fused Adam",
            lambda: mlp(10, 5), (10,), 5, 2000, _fused_adam),
    Network("mlp-100", "the paper's MLP (d 10, 100-100-100, 5 classes) in estimate_mi, fused Adam",
            lambda: mlp(10, 5), (10,), 5, 100, _fused_adam),
    Network("mine-2000", "MINE's statistics network (d 10, 100-100-100, 5 labels), Adam",
            lambda: StatisticsNetwork(10, 5, (100, 100, 100)), (10,), 5, 2000, _adam),
    Network("estimate_mi-512", "estimate_mi's default network (d 10, 50-50, 5 classes), fused Adam",
            lambda: mlp(10, 5, (50, 50)), (10,), 5, 512, _fused_adam),
)


def network(name: str) -> Network:
    """The entry of :data:`NETWORKS` called ``name``."""
    return next(n for n in NETWORKS if n.name == name)


def is_convolutional(model: nn.Module) -> bool:
    """Whether ``model`` has 4-D weights (the only ones the ``channels_last`` layout changes)."""
    return any(p.dim() == 4 for p in model.parameters())


def step_flops(model: nn.Module, x: torch.Tensor) -> float:
    """FLOPs of one training step on the batch ``x``: 2 m n k per matmul and convolution of the forward
    pass (counted from the layers' output shapes), times 3 for forward and backward."""
    counts: list[float] = []

    def count(module: nn.Module, _inputs: Any, out: torch.Tensor) -> None:
        if isinstance(module, nn.Linear):
            counts.append(2.0 * out.numel() * module.in_features)
        elif isinstance(module, nn.Conv2d):
            kernel = module.kernel_size[0] * module.kernel_size[1]
            counts.append(2.0 * out.numel() * (module.in_channels // module.groups) * kernel)

    hooks = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for hook in hooks:
            hook.remove()
    return 3.0 * sum(counts)


def matmul_rate(repeats: int = 5) -> float:
    """This CPU's float32 matmul rate on the current threads, FLOP/s: the median of ``repeats`` 1024^2
    products after one warm-up."""
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(MATMUL_SIZE, MATMUL_SIZE, generator=generator)
    b = torch.randn(MATMUL_SIZE, MATMUL_SIZE, generator=generator)
    a @ b
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - start)
    return 2.0 * MATMUL_SIZE**3 / statistics.median(times)


class LeverRun:
    """One lever on one network: a seeded model placed on the lever's path (``wrap`` maps it, e.g.
    ``torch.compile``), its optimiser and data, ready to time passes over the data."""

    def __init__(self, spec: Network, lever: str, timing: Timing, wrap: Callable = lambda m: m) -> None:
        self.spec, self.lever, self.precision = spec, lever, PRECISION_OF[lever]
        model, self.criterion = spec.model()
        model = place_model(model, self.precision, CPU)
        self.opt = spec.optimizer(model.parameters())
        self.model = wrap(model)
        self.x, self.y = spec.data(timing.batches)
        self.generator = torch.Generator().manual_seed(1)

    def one_pass(self) -> float:
        """Seconds for one pass over the data in a fresh seeded order: as training runs it (a gather by
        index per batch, :func:`train_epoch`), or for ``in_memory`` the data permuted once into one tensor
        and taken in contiguous slices."""
        order = torch.randperm(len(self.x), generator=self.generator)
        start = time.perf_counter()
        if self.lever == "in_memory":
            self._in_memory_pass(order)
        else:
            train_epoch(self.model, self.criterion, self.opt, self.x, self.y, order, self.spec.batch_size,
                        CPU, 0, self.precision)
        return time.perf_counter() - start

    def _in_memory_pass(self, order: torch.Tensor) -> None:
        self.model.train()
        xs, ys, size = self.x[order], self.y[order], self.spec.batch_size
        for start in range(0, len(xs), size):
            out, loss = training_step(self.model, self.criterion, self.opt, xs[start : start + size],
                                      ys[start : start + size], self.precision, CPU)
            if not torch.isfinite(out).all():
                raise ValueError("the benchmark's training diverged")
            loss.item()  # read back once per step, as training does


class StackedRun:
    """The ``stacked`` lever on one network: :data:`STACK` copies (seeds 0, 1, ...) as one stacked set of
    parameters, each step the vmapped loss of every copy on its own batch, summed, and one optimiser step
    for all. :meth:`one_pass` returns seconds per pass of one model (the pass's time over STACK)."""

    def __init__(self, spec: Network, timing: Timing) -> None:
        from torch.func import functional_call, stack_module_state, vmap

        self.spec, self.lever = spec, "stacked"
        models = [spec.model(seed)[0] for seed in range(STACK)]
        _, criterion = spec.model()
        params, buffers = stack_module_state(models)
        self.params, self.buffers = params, buffers
        template = copy.deepcopy(models[0]).to("meta")

        def loss(p: dict, b: dict, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            out = functional_call(template, (p, b), (x,))
            return criterion(out, y), out

        self.loss = vmap(loss)
        self.opt = spec.optimizer(list(params.values()))
        x, y = spec.data(timing.batches * STACK)
        n = timing.batches * spec.batch_size
        self.x, self.y = x.reshape(STACK, n, *spec.input_shape), y.reshape(STACK, n)
        self.generator = torch.Generator().manual_seed(1)

    def one_pass(self) -> float:
        order = torch.randperm(self.x.shape[1], generator=self.generator)
        size = self.spec.batch_size
        start = time.perf_counter()
        for first in range(0, len(order), size):
            idx = order[first : first + size]
            self.opt.zero_grad(set_to_none=True)
            losses, out = self.loss(self.params, self.buffers, self.x[:, idx], self.y[:, idx])
            losses.sum().backward()
            self.opt.step()
            if not torch.isfinite(out).all():
                raise ValueError("the benchmark's training diverged")
            losses.sum().item()  # read back once per step, as training does
        return (time.perf_counter() - start) / STACK


def timed_passes(runs: list[LeverRun | StackedRun], timing: Timing) -> list[list[float]]:
    """Seconds of every pass of every run, warm-up passes first; the runs take turns pass by pass, so that
    a change in the load of a shared machine falls on all of them alike."""
    passes: list[list[float]] = [[] for _ in runs]
    for _ in range(timing.warmup + timing.repeats):
        for run, seconds in zip(runs, passes):
            seconds.append(run.one_pass())
    return passes


def per_step(passes: list[float], timing: Timing) -> float:
    """Median seconds per step of the passes after the warm-up."""
    return statistics.median(passes[timing.warmup :]) / timing.batches


def in_process_levers(spec: Network, timing: Timing) -> dict[str, dict[str, Any]]:
    """Every lever but ``compile``: seconds per step, or why it does not apply."""
    convolutional = is_convolutional(spec.model()[0])
    levers = [lever for lever in LEVERS if lever != "compile" and (convolutional or lever != "channels_last")]
    runs = [StackedRun(spec, timing) if lever == "stacked" else LeverRun(spec, lever, timing) for lever in levers]
    passes = timed_passes(runs, timing)
    result = {lever: {"seconds": per_step(p, timing)} for lever, p in zip(levers, passes)}
    if not convolutional:
        result["channels_last"] = {"seconds": None,
                                   "note": "no convolutions: the layout changes 4-D tensors only"}
    return result


def compile_worker(names: list[str], timing: Timing) -> None:
    """In a child process: per network, one JSON line with seconds per step under ``torch.compile`` and the
    compile time (the first pass less a compiled pass), or the error, printed as soon as it is known."""
    torch.set_num_threads(1)
    for name in names:
        try:
            passes = timed_passes([LeverRun(network(name), "compile", timing, torch.compile)], timing)[0]
            seconds = per_step(passes, timing)
            row = {"seconds": seconds, "compile_seconds": max(0.0, passes[0] - seconds * timing.batches)}
        except Exception as error:  # noqa: BLE001 - any failure of the compiler is a result to record
            row = {"seconds": None, "note": f"torch.compile failed: {type(error).__name__}: {error}"[:300]}
        print(json.dumps({"network": name, **row}), flush=True)


def compiled_levers(names: list[str], timing: Timing, budget_s: float) -> dict[str, dict[str, Any]]:
    """``compile`` for each of ``names`` from a child process killed after ``budget_s`` seconds (one
    thread, one compile worker, an empty compiler cache: the cost a fresh clone pays); networks it did
    not reach are recorded as timed out."""
    code = ("import json, sys; from pcsm.experiments.bench_train import Timing, compile_worker; "
            "compile_worker(sys.argv[1].split(','), Timing(**json.loads(sys.argv[2])))")
    args = [sys.executable, "-c", code, ",".join(names), json.dumps(timing.__dict__)]
    with tempfile.TemporaryDirectory(prefix="pcsm-inductor-") as cache:
        env = {**os.environ, "PCSM_THREADS": "1", "OMP_NUM_THREADS": "1",
               "TORCHINDUCTOR_COMPILE_THREADS": "1", "TORCHINDUCTOR_CACHE_DIR": cache}
        return _compile_rows(names, args, env, budget_s)


def _compile_rows(names: list[str], args: list[str], env: dict[str, str], budget_s: float
                  ) -> dict[str, dict[str, Any]]:
    """Run the compile worker ``args``; its rows, and a reason for each network it did not report."""
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=budget_s, env=env)
        output, failure = done.stdout, (f"the compile process failed: {done.stderr.strip()[-300:]}"
                                        if done.returncode else "")
    except subprocess.TimeoutExpired as expired:
        output = expired.stdout.decode() if isinstance(expired.stdout, bytes) else expired.stdout or ""
        failure = f"torch.compile not finished within the benchmark's {budget_s:.0f} s compile budget"
    rows = {row.pop("network"): row for row in map(json.loads, output.splitlines()) if row}
    return {name: rows.get(name, {"seconds": None, "note": failure}) for name in names}


def network_report(spec: Network, levers: dict[str, dict[str, Any]], rate: float) -> dict[str, Any]:
    """One network's rows: ms per step, speed-up over float32 and the multiple of the compute limit."""
    model = spec.model()[0]
    flops = step_flops(model, spec.data(1)[0])
    limit = flops / rate
    reference = levers["float32"]["seconds"]
    default = "channels_last" if is_convolutional(model) and training_precision() == "auto" else "float32"
    rows = []
    for lever in LEVERS:
        entry = dict(levers[lever])
        seconds = entry.pop("seconds")
        rows.append({"lever": lever, "ms_per_step": None if seconds is None else 1e3 * seconds,
                     "speedup": None if seconds is None else reference / seconds,
                     "times_compute_limit": None if seconds is None else seconds / limit, **entry})
    return {"network": spec.name, "description": spec.description, "batch_size": spec.batch_size,
            "step_gflop": flops / 1e9, "compute_limit_ms": 1e3 * limit, "library_default": default,
            "levers": rows}


def bench_train(quick: bool = False, compile_budget_s: float = COMPILE_BUDGET_S) -> dict[str, Any]:
    """The benchmark report (see the module docstring); ``quick``: tiny repeats and no compile."""
    torch.set_num_threads(1)
    start, load = time.perf_counter(), os.getloadavg()[0]
    timing = QUICK if quick else Timing()
    rate = matmul_rate(timing.repeats)
    levers = {spec.name: in_process_levers(spec, timing) for spec in NETWORKS}
    names = [spec.name for spec in NETWORKS]
    cheapest_first = sorted(names, key=lambda name: levers[name]["float32"]["seconds"])
    compiled = (compiled_levers(cheapest_first, timing, compile_budget_s) if not quick else
                dict.fromkeys(names, {"seconds": None, "note": "not measured with --quick"}))
    for name in names:
        levers[name]["compile"] = compiled[name]
    return {
        "machine": {"platform": platform.platform(), "processor": _cpu_name(), "torch": torch.__version__,
                    "torch_threads": 1, "load_average_at_start": load},
        "timing": {**timing.__dict__, "statistic": "median seconds per step over the repeats"},
        "matmul_gflops": rate / 1e9,
        "library_path": describe_training_path(),
        "networks": [network_report(spec, levers[spec.name], rate) for spec in NETWORKS],
        "choice": CHOICE,
        "total_seconds": time.perf_counter() - start,
    }


CHOICE = (
    "The library's default (pcsm.core.training.training_precision 'auto'; PCSM_PRECISION=float32 switches "
    "back) is float32 everywhere with convolutional networks and their batches in channels_last: the same "
    "float32 arithmetic up to rounding, and the fastest LeNet lever measured. Fully connected networks (the "
    "MI estimates' MLPs, MINE's critic) are unchanged: no layout lever applies to them. bfloat16 autocast "
    "is opt-in only (PCSM_PRECISION=bfloat16), never a default: it changes the MI estimates beyond "
    "rounding, and on a CPU without bfloat16 instructions it is several times slower. torch.compile is not "
    "used: from an empty cache its compile costs more than its steps save (see its rows and notes), and "
    "the MI estimates build a new network for every fit, each compiled anew. Holding the data as one "
    "tensor per pass saved nothing beyond the noise, so batches are still gathered by index. Stacked training "
    "(torch.func) is measured, not used: each fit trains its own network on its own data, and independent "
    "fits already run side by side in joblib's worker processes; its rows show what stacking would give "
    "per network."
)


def _cpu_name() -> str:
    """The CPU model from /proc/cpuinfo, else what :mod:`platform` says."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor()
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")),
                platform.processor())


def print_report(report: dict[str, Any]) -> None:
    """A table per network: ms per step, speed-up and multiple of the compute limit per lever."""
    print(f"{report['machine']['processor']}, one thread: float32 matmul {report['matmul_gflops']:.1f} "
          f"GFLOP/s; library path: {report['library_path']}")
    for net in report["networks"]:
        print(f"\n{net['network']} (batch {net['batch_size']}, {net['step_gflop'] * 1e3:.0f} MFLOP per step, "
              f"compute limit {net['compute_limit_ms']:.2f} ms; library default: {net['library_default']})")
        print(f"  {'lever':<14}{'ms/step':>9}{'speed-up':>10}{'x limit':>9}  note")
        for row in net["levers"]:
            print(f"  {row['lever']:<14}{_cells(row)}  {_note(row)}")
    print(f"\ntotal {report['total_seconds']:.0f} s")


def _cells(row: dict[str, Any]) -> str:
    """A lever's ms per step, speed-up and multiple of the compute limit, or dashes."""
    if row["ms_per_step"] is None:
        return f"{'-':>9}{'-':>10}{'-':>9}"
    return f"{row['ms_per_step']:>9.2f}{row['speedup']:>10.2f}{row['times_compute_limit']:>9.1f}"


def _note(row: dict[str, Any]) -> str:
    """Why a lever was not measured, or its compile time."""
    return row.get("note") or (f"compile {row['compile_seconds']:.0f} s" if "compile_seconds" in row else "")


def main(output: Path | None = None, quick: bool = False) -> int:
    """Entry point of ``pcsm bench train``: run, print, write JSON; 0."""
    report = bench_train(quick=quick)
    print_report(report)
    path = Path(output) if output else DEFAULT_OUTPUT
    atomic_write_text(path, json.dumps(report, indent=1) + "\n")
    print(f"wrote {path}")
    return 0
