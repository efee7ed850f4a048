"""Build the book and look at it in a real browser: the derivation's math must be typeset offline."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pcsm.results import REPO_ROOT

pytestmark = pytest.mark.slow

CHROMIUM = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


@pytest.fixture(scope="module")
def built_book(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("book")
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    proc = subprocess.run(
        [str(jupyter_book), "build", str(REPO_ROOT), "--path-output", str(out),
         "--warningiserror", "--keep-going"],
        capture_output=True, text=True, cwd=REPO_ROOT,
    )
    assert proc.returncode == 0, f"book build failed:\n{proc.stdout[-5000:]}\n{proc.stderr[-3000:]}"
    return out / "_build" / "html"


def test_book_has_pages_and_downloadable_notebooks(built_book):
    assert (built_book / "index.html").exists()
    page = (built_book / "notebooks" / "01-bound.html").read_text()
    assert "../_sources/notebooks/01-bound.ipynb" in page, "no .ipynb download link"
    assert (built_book / "_sources" / "notebooks" / "01-bound.ipynb").exists()
    mathjax = re.findall(r'<script[^>]*src="([^"]*tex-chtml[^"]*)"', page)
    assert mathjax and mathjax[0].startswith("../_static/"), f"MathJax not served locally: {mathjax}"
    assert "cdn.jsdelivr" not in page


def dump_dom(url: str, user_dir: Path) -> str:
    proc = subprocess.run(
        [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={user_dir}", "--virtual-time-budget=20000",
         "--dump-dom", url],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def test_derivation_math_is_typeset_in_a_browser(built_book, tmp_path):
    if CHROMIUM is None:
        message = "no Chromium: install it (Debian: apt-get install chromium) to check the rendered math"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    dom = dump_dom((built_book / "notebooks" / "01-bound.html").as_uri(), tmp_path / "profile")
    body = dom[dom.find("<main"):]
    assert body.count("<mjx-container") >= 10, "MathJax did not typeset the derivation"
    assert "$$" not in body, "raw $$ math left on the page"
    assert r"\mathbb{E}" not in re.sub(r"<mjx-assistive-mml.*?</mjx-assistive-mml>", "", body)
