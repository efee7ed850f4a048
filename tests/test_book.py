"""Build the book and look at it in a real browser: the derivation's math must be typeset offline."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pcsm.experiments.results import REPO_ROOT

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


def require_browser() -> None:
    if CHROMIUM is None:
        message = "no Chromium: install it (Debian: apt-get install chromium) to check the rendered book"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def render(url: str, user_dir: Path) -> tuple[str, list[str]]:
    """The page's DOM after scripts ran, and the JavaScript console's error lines."""
    proc = subprocess.run(
        [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={user_dir}", "--virtual-time-budget=20000",
         "--enable-logging=stderr", "--v=0", "--dump-dom", url],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
    errors = [line for line in console if re.search(r"Uncaught|Error|Failed to load", line)]
    return proc.stdout, errors


def book_pages(html: Path) -> list[Path]:
    return sorted(p for p in html.rglob("*.html") if "_static" not in p.parts and "_sources" not in p.parts)


def test_every_link_and_image_resolves(built_book):
    broken = []
    for page in book_pages(built_book):
        text = page.read_text()
        for attr, target in re.findall(r'\b(href|src)="([^"]+)"', text):
            if re.match(r"^(https?:|mailto:|#|data:|javascript:)", target):
                continue
            path = target.split("#")[0].split("?")[0]
            if path and not (page.parent / path).resolve().exists():
                broken.append(f"{page.relative_to(built_book)}: {attr}={target}")
    assert not broken, "broken links or images:\n" + "\n".join(broken[:40])


def test_every_page_renders_without_javascript_errors(built_book, tmp_path):
    require_browser()
    problems = []
    for page in book_pages(built_book):
        dom, errors = render(page.as_uri(), tmp_path / "profile")
        name = page.relative_to(built_book)
        problems += [f"{name}: {e}" for e in errors]
        body = dom[dom.find("<main"):]
        if "$$" in body or re.search(r"\\(mathbb|frac|sum)\b", re.sub(r"<mjx-container.*?</mjx-container>", "", body, flags=re.S)):
            problems.append(f"{name}: raw TeX left on the page (MathJax did not typeset it)")
        missing = [src for src in re.findall(r'<img[^>]*src="([^"]+)"', body)
                   if not src.startswith("data:") and not (page.parent / src.split("?")[0]).exists()]
        problems += [f"{name}: missing image {src}" for src in missing]
    assert not problems, "\n".join(problems[:40])


def test_derivation_math_is_typeset_in_a_browser(built_book, tmp_path):
    require_browser()
    dom, _ = render((built_book / "notebooks" / "01-bound.html").as_uri(), tmp_path / "profile")
    body = dom[dom.find("<main"):]
    assert body.count("<mjx-container") >= 10, "MathJax did not typeset the derivation"
    assert "$$" not in body, "raw $$ math left on the page"
    assert r"\mathbb{E}" not in re.sub(r"<mjx-assistive-mml.*?</mjx-assistive-mml>", "", body)
