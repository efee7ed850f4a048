"""The launch buttons run a chapter. On Colab the notebook arrives alone: its first code cell clones this
repository (the files a chapter reads, results/ and the table of contents, come with it), installs it
with the book extra and imports pcsm from the clone, and does nothing elsewhere. Binder builds
environment.yml (the lock's pins, torch for the CPU) and runs postBuild, which installs the checkout.

The slow tests run both routes as they run: a chapter copied alone into an empty folder, executed by
papermill in a kernel with a stand-in ``google.colab`` module and the repository URL pointed at a local
copy of this repository (its committed HEAD: commit first); and Binder's postBuild in a fresh clone, then
a chapter there. Each kernel runs in a fresh virtual environment that sees this venv's packages (the
pinned dependencies) but not its pcsm, so pcsm can only come from what the route installed.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import sysconfig
import types
from pathlib import Path

import nbformat
import pytest
import yaml
from IPython.core.inputtransformer2 import TransformerManager

from pcsm.book.plan import load_plan
from pcsm.experiments.results import DATA_ENV, PUBLISHED_ENV, REPO_ROOT, RESULTS_ENV

CONFIG = yaml.safe_load((REPO_ROOT / "_config.yml").read_text())["repository"]
PLAN = load_plan()
CHAPTERS = sorted(PLAN)
CLONE = "pcsm-book"  # the folder the Colab cell clones into, beside the notebook


def colab_cell(name: str) -> nbformat.NotebookNode:
    nb = nbformat.read(REPO_ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    assert nb.cells[1].cell_type == "code", f"{name}: cell 1 is not the Colab cell"
    return nb.cells[1]


def run_cell(name: str, on_colab: bool) -> tuple[list[list[str]], list[str]]:
    """Run the cell's Python (as IPython transforms it) with subprocess.run recorded, not executed;
    return the commands it ran and what it added to sys.path."""
    code = TransformerManager().transform_cell(colab_cell(name).source)
    calls: list[list[str]] = []
    fake = types.SimpleNamespace(run=lambda args, **kwargs: calls.append(list(args)))
    replaced = {"google.colab": types.ModuleType("google.colab") if on_colab else None, "subprocess": fake}
    saved_modules, saved_path = {key: sys.modules.get(key) for key in replaced}, list(sys.path)
    try:
        for key, module in replaced.items():  # the cell's `import subprocess` binds the recorder
            sys.modules.pop(key, None)
            if module is not None:
                sys.modules[key] = module
        exec(code, {"get_ipython": lambda: None})
        added = [p for p in sys.path if p not in saved_path]
    finally:
        for key, module in saved_modules.items():
            sys.modules.pop(key, None)
            if module is not None:
                sys.modules[key] = module
        sys.path[:] = saved_path
    return calls, added


@pytest.mark.parametrize("name", CHAPTERS)
def test_first_code_cell_sets_up_on_colab_only(name: str, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PCSM_REPOSITORY", raising=False)
    assert "hide-input" in colab_cell(name).metadata.get("tags", [])
    assert run_cell(name, on_colab=False) == ([], []), f"{name}: the Colab cell acts outside Colab"
    calls, added = run_cell(name, on_colab=True)
    clone, install = calls
    assert clone[:2] == ["git", "clone"] and clone[-2:] == [CONFIG["url"], CLONE], clone
    assert clone[clone.index("--branch") + 1] == CONFIG["branch"] and "--depth" in clone, clone
    assert install[:4] == [sys.executable, "-m", "pip", "install"], install
    assert install[install.index("-e") + 1] == f"{CLONE}[book]", install
    assert added == [str(Path.cwd() / CLONE)], "the kernel does not import pcsm from the clone"


@pytest.mark.parametrize("name", CHAPTERS)
def test_colab_cell_reads_the_repository_url_from_pcsm_repository(name: str, tmp_path: Path,
                                                                   monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PCSM_REPOSITORY", "file:///elsewhere/pcsm.git")
    (clone, _), _ = run_cell(name, on_colab=True)
    assert clone[-2] == "file:///elsewhere/pcsm.git"
    (tmp_path / CLONE).mkdir()  # run again in the same session: the clone is there, only the install runs
    calls, _ = run_cell(name, on_colab=True)
    assert [call[2:4] for call in calls] == [["pip", "install"]], calls


def test_the_cells_are_one_cell() -> None:
    """Every chapter carries the same setup cell (a fix to one is a fix to all)."""
    assert len({colab_cell(name).source for name in CHAPTERS}) == 1


def test_binder_installs_every_pin_and_then_pcsm() -> None:
    """repo2docker reads the root's environment.yml and postBuild (a binder/ folder would hide them);
    environment.yml has no install of the checkout (it is built before the repository is copied in), so
    postBuild, executable, must install it. torch is the CPU build (Binder has no GPU)."""
    assert not (REPO_ROOT / "binder").exists()
    env = yaml.safe_load((REPO_ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "torch==2.14.1+cpu" in pip and not any(line.startswith(("-e", ".")) for line in pip)
    assert not any(line.startswith(("nvidia-", "triton")) for line in pip)
    post_build = REPO_ROOT / "postBuild"
    assert os.access(post_build, os.X_OK), "postBuild must be executable"
    installs = [shlex.split(line) for line in post_build.read_text().splitlines() if "pip install" in line]
    assert any(words[-1] == "." and "-e" in words for words in installs), "postBuild does not install pcsm"


# --- the routes, run -------------------------------------------------------------------------------------

PROBE = ("import json, pcsm\nfrom pcsm.experiments.results import REPO_ROOT\n"
         "print(json.dumps({'pcsm': pcsm.__file__, 'root': str(REPO_ROOT)}))")


def git(*args: object) -> str:
    return subprocess.run(["git", *map(str, args)], check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture(scope="module")
def origin(tmp_path_factory) -> Path:
    """GitHub's stand-in: a bare copy of this repository whose main is this checkout's HEAD (the routes
    run what is committed; the notebooks too come from there, so they match the package they import)."""
    bare = tmp_path_factory.mktemp("github") / "pcsm.git"
    git("clone", "--quiet", "--bare", REPO_ROOT, bare)
    git("-C", bare, "update-ref", f"refs/heads/{CONFIG['branch']}", git("-C", REPO_ROOT, "rev-parse", "HEAD"))
    return bare


@pytest.fixture(scope="module")
def kernels(tmp_path_factory) -> Path:
    """JUPYTER_PATH with two kernels, each in a fresh venv that sees this venv's site-packages through a
    .pth line (not its .pth files, so not its editable pcsm): "colab" imports a stand-in google.colab
    at start, as Colab's kernel has it; "binder" does not."""
    root = tmp_path_factory.mktemp("kernels")
    standin = root / "standin" / "google" / "colab"  # a namespace portion: other google.* packages still load
    standin.mkdir(parents=True)
    (standin / "__init__.py").write_text('"""Stand-in for Colab\'s module: its presence means Colab."""\n')
    for name in ("colab", "binder"):
        venv = root / f"venv-{name}"
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
        site = Path(sysconfig.get_path("purelib", vars={"base": venv, "platbase": venv}))
        (site / "shared.pth").write_text(sysconfig.get_path("purelib") + "\n")
        start = ("import google.colab; " if name == "colab" else "") + \
            "from ipykernel.kernelapp import launch_new_instance; launch_new_instance()"
        spec = {"argv": [str(venv / "bin" / "python"), "-c", start, "-f", "{connection_file}",
                         "--IPKernelApp.log_level=CRITICAL"],
                "display_name": name, "language": "python",
                "env": {"PYTHONPATH": str(standin.parent.parent)} if name == "colab" else {}}
        (root / "kernels" / name).mkdir(parents=True)
        (root / "kernels" / name / "kernel.json").write_text(json.dumps(spec))
    return root


@pytest.fixture
def route_environment(monkeypatch, kernels: Path) -> None:
    """The kernels findable; pip offline (the dependencies are this venv's; build isolation would fetch
    setuptools, and pip reads PIP_NO_BUILD_ISOLATION inverted: 0 turns it off); no runner folders."""
    monkeypatch.setenv("JUPYTER_PATH", str(kernels))
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_NO_BUILD_ISOLATION", "0")
    monkeypatch.setenv("PIP_DISABLE_PIP_VERSION_CHECK", "1")
    for name in (RESULTS_ENV, PUBLISHED_ENV, DATA_ENV):
        monkeypatch.delenv(name, raising=False)


def execute(notebook: Path, name: str, kernel: str) -> dict[str, str]:
    """Run ``notebook`` (in its folder) with papermill on the smoke profile, a probe cell appended;
    return where the kernel's pcsm and REPO_ROOT were."""
    import papermill

    nb = nbformat.read(notebook, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(PROBE))
    nbformat.write(nb, notebook)
    executed = notebook.with_suffix(".executed.ipynb")
    try:
        papermill.execute_notebook(str(notebook), str(executed), kernel_name=kernel, cwd=str(notebook.parent),
                                   parameters={"profile": "smoke"},
                                   execution_timeout=PLAN[name].timeout, progress_bar=False)
    except papermill.PapermillExecutionError as error:
        pytest.fail(f"{name} on {kernel}: {error.ename}: {error.evalue}\n" + "\n".join(error.traceback[-5:]))
    output = nbformat.read(executed, as_version=4).cells[-1].outputs
    return json.loads("".join(o.get("text", "") for o in output if o.output_type == "stream"))


@pytest.mark.slow
@pytest.mark.parametrize("name", CHAPTERS)
def test_chapter_runs_as_on_colab(name: str, tmp_path: Path, origin: Path, route_environment,
                                  monkeypatch) -> None:
    """The chapter alone in an empty folder, google.colab present, the repository URL at the local copy:
    every cell runs on the smoke profile (02, the longest, in about a minute on 2 busy cores), and pcsm
    (so REPO_ROOT, where the chapter reads results/) is the clone the first
    cell made."""
    monkeypatch.setenv("PCSM_REPOSITORY", origin.as_uri())
    folder = tmp_path / "content"
    folder.mkdir()
    notebook = folder / f"{name}.ipynb"
    notebook.write_text(git("-C", origin, "show", f"{CONFIG['branch']}:notebooks/{notebook.name}") + "\n")
    where = execute(notebook, name, "colab")
    clone = (folder / CLONE).resolve()
    assert Path(where["root"]) == clone and Path(where["pcsm"]).is_relative_to(clone), where


@pytest.mark.slow
def test_chapter_runs_on_binder(tmp_path: Path, origin: Path, kernels: Path, route_environment,
                                monkeypatch) -> None:
    """repo2docker's steps with the environment already built (this venv: the pins environment.yml
    carries, but torch's CUDA build, as the CPU wheels cannot be fetched offline): postBuild in a fresh
    clone, the environment's python first on PATH; then a chapter that reads results/ and provenance,
    opened from the clone's notebooks/, its first cell doing nothing."""
    checkout = tmp_path / "repo"
    git("clone", "--quiet", "--branch", CONFIG["branch"], origin.as_uri(), checkout)
    python = kernels / "venv-binder" / "bin" / "python"
    monkeypatch.setenv("PATH", f"{python.parent}{os.pathsep}{os.environ['PATH']}")
    build = subprocess.run([str(checkout / "postBuild")], cwd=checkout, capture_output=True, text=True)
    assert build.returncode == 0, f"postBuild failed:\n{build.stdout}\n{build.stderr}"
    installed = subprocess.run([python, "-c", "import pcsm; print(pcsm.__file__)"], cwd=tmp_path, check=True,
                               capture_output=True, text=True).stdout.strip()
    assert Path(installed).is_relative_to(checkout), f"postBuild's pcsm is {installed}"
    where = execute(checkout / "notebooks" / "05-results.ipynb", "05-results", "binder")
    assert Path(where["root"]) == checkout.resolve(), where
    assert not (checkout / "notebooks" / CLONE).exists(), "the Colab cell ran on Binder"
