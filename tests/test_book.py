"""Build the book and look at it in a real browser, at a desktop width and at a phone's: maths typeset
offline, no JavaScript errors, nothing wider than the text column outside a scroll box, no test
markers or progress lines on the page; screenshots of every page are kept for a person to look at."""

from __future__ import annotations

import base64
import json
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


def test_every_image_has_alt_text(built_book):
    """Every figure a reader sees, the landing page's pasted one included, has alt text in words (the
    cell's mystnb.image.alt), never its file name (MyST-NB's default)."""
    bare = []
    for page in book_pages(built_book):
        for tag in re.findall(r"<img\b[^>]*>", page.read_text()):
            alt = re.search(r'\balt="([^"]*)"', tag)
            src = re.search(r'\bsrc="([^"]*)"', tag)
            if src and "_static/" in src.group(1):
                continue  # the theme's and Sphinx's own icons (launch buttons, the module index's toggler)
            if not alt or len(alt.group(1).split()) < 8 or (src and alt.group(1) in src.group(1)):
                bare.append(f"{page.relative_to(built_book)}: {tag[:160]}")
    assert not bare, "images without alt text:\n" + "\n".join(bare)


# ---------------------------------------------------------------------------------------------------
# Layout at a desktop width and at phone width: one headless Chromium driven over the DevTools protocol
# on a pipe (no websocket library needed) shows every page at each width (the phone width emulated as a
# mobile screen), collects its console errors, measures it with a script and takes a full-page
# screenshot. Every check below reads these measurements.

WIDTHS = (1400, 390)
ROW_LIMIT = 200  # px: the tallest a table row may stand (a third of a phone's screen)
SCREENSHOTS = REPO_ROOT / "_build" / "screenshots"  # artefacts of the run (ignored by git)
PROGRESS = r"\[\d+/\d+\]|\d\s*(?:it/s|s/it)\b"  # progress lines: "[1/120] ...", tqdm's "3.2it/s"

MEASURE_JS = r"""
function insideScrollBox(el, column, box, win) {
  for (let a = el.parentElement; a && a !== column; a = a.parentElement) {
    const overflow = win.getComputedStyle(a).overflowX;
    if (overflow === "auto" || overflow === "scroll") {
      const r = a.getBoundingClientRect();
      return r.left >= box.left - 1 && r.right <= box.right + 1;
    }
  }
  return false;
}
function describe(el) {
  const r = el.getBoundingClientRect();
  const name = el.tagName.toLowerCase() + (el.className && typeof el.className === "string"
    ? "." + el.className.trim().split(/\s+/).join(".") : "");
  const text = (el.innerText || "").replace(/\s+/g, " ").trim().slice(0, 50);
  return `${name} (${Math.round(r.width)} px wide): ${text}`;
}
function rawTex(doc) {
  const main = (doc.querySelector("main") || doc.body).cloneNode(true);
  main.querySelectorAll("mjx-container").forEach((m) => m.remove());
  return main.innerHTML.includes("$$") || /\\(mathbb|frac|sum)\b/.test(main.innerHTML);
}
function clippedEquations(column, box, win) {
  // A display formula wider than the room it has must sit in a box that scrolls sideways and shows
  // that it does (a scroll shadow, or a scrollbar that takes room); otherwise it is cut off or runs
  // past the column's edge.
  const found = [];
  for (const eq of column.querySelectorAll('mjx-container[display="true"]')) {
    const content = eq.querySelector("mjx-math") || eq;
    let scroller = null;
    for (let a = content.parentElement; a && a !== column; a = a.parentElement) {
      if (win.getComputedStyle(a).overflowX !== "visible") { scroller = a; break; }
    }
    const room = scroller ? scroller.getBoundingClientRect() : box, r = content.getBoundingClientRect();
    const right = Math.min(room.right, box.right), left = Math.max(room.left, box.left);
    if (r.right <= right + 1 && r.left >= left - 1) continue;
    const mml = eq.querySelector("mjx-assistive-mml");
    const tex = (mml ? mml.textContent : "").replace(/\s+/g, " ").trim().slice(0, 50);
    const what = `a ${Math.round(r.width)}-px formula in ${Math.round(room.width)} px (${tex})`;
    const style = scroller && win.getComputedStyle(scroller);
    if (!scroller) found.push(`${what} runs past the column's edge`);
    else if (!["auto", "scroll"].includes(style.overflowX)) found.push(`${what} is cut off`);
    else if (!/gradient/.test(style.backgroundImage) && scroller.offsetHeight <= scroller.clientHeight)
      found.push(`${what} scrolls with nothing to show that it does`);
  }
  return found;
}
function measure(doc, win) {
  const column = doc.querySelector("article.bd-article") || doc.querySelector("main") || doc.body;
  const outer = column.getBoundingClientRect(), pad = win.getComputedStyle(column);
  const box = {left: outer.left + parseFloat(pad.paddingLeft),
               right: outer.right - parseFloat(pad.paddingRight)};
  box.width = box.right - box.left;  // the text column: the article's content box
  const wide = [];
  for (const el of column.querySelectorAll("*")) {
    const r = el.getBoundingClientRect(), style = win.getComputedStyle(el);
    if (r.width === 0 || r.height === 0 || style.visibility === "hidden") continue;
    if (el.closest("mjx-assistive-mml")) continue;  // MathJax's copy for screen readers, clipped away
    if (r.left >= box.left - 1 && r.right <= box.right + 1) continue;
    if (wide.some((outer) => outer.contains(el)) || insideScrollBox(el, column, box, win)) continue;
    wide.push(el);
  }
  const outputs = Array.from(doc.querySelectorAll(".cell_output"), (e) => e.textContent);
  const rows = Array.from(column.querySelectorAll("table tr"), (tr) => ({
    height: Math.round(tr.getBoundingClientRect().height),
    text: (tr.innerText || "").replace(/\s+/g, " ").trim().slice(0, 60)}))
    .sort((a, b) => b.height - a.height);
  return {
    column: Math.round(box.width), page: doc.documentElement.scrollWidth,
    height: doc.documentElement.scrollHeight, wide: wide.slice(0, 10).map(describe),
    tables: Array.from(column.querySelectorAll("table"))
      .filter((t) => t.getBoundingClientRect().width > box.width + 1).map(describe),
    nbval: /NBVAL/.test(column.innerText), progress: outputs.filter((t) => new RegExp(PROGRESS).test(t))
      .map((t) => t.match(new RegExp(PROGRESS))[0]),
    rows: rows.slice(0, 3), equations: clippedEquations(column, box, win),
    mailto: doc.querySelectorAll('a[href^="mailto:"]').length,
    math: doc.querySelectorAll("mjx-container").length, rawTex: rawTex(doc),
    brokenImages: Array.from(doc.images).filter((i) => !i.complete || i.naturalWidth === 0)
      .map((i) => i.getAttribute("src")),
  };
}
(async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
  await new Promise((done) => setTimeout(done, 300));
  return JSON.stringify(measure(document, window));
})()
"""


LOAD_IMAGES_JS = """
Promise.all(Array.from(document.images, (image) => {
  image.loading = "eager";
  return image.complete ? null : new Promise((done) => {
    image.addEventListener("load", done); image.addEventListener("error", done); setTimeout(done, 3000);
  });
})).then(() => new Promise((done) => setTimeout(() => done(true), 300)))
"""


class Browser:
    """Headless Chromium with --remote-debugging-pipe: DevTools messages, each ended by a NUL byte,
    go in on the browser's fd 3 and come back on its fd 4. One page (tab) is attached."""

    def __init__(self, user_dir: Path) -> None:
        import fcntl

        to_browser, self._out = os.pipe()
        self._in, from_browser = os.pipe()
        ends = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_browser, from_browser)]

        def wire_fds_3_and_4() -> None:
            os.dup2(ends[0], 3)
            os.dup2(ends[1], 4)

        self.proc = subprocess.Popen(
            [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={user_dir}", "--remote-debugging-pipe",
             "about:blank"], pass_fds=(3, 4), preexec_fn=wire_fds_3_and_4,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for fd in (to_browser, from_browser, *ends):
            os.close(fd)
        self._buffer, self._id, self._events, self.session = b"", 0, [], None
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable")

    def _receive(self) -> dict:
        while b"\0" not in self._buffer:
            chunk = os.read(self._in, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def call(self, method: str, **params) -> dict:
        self._id += 1
        message = {"id": self._id, "method": method, "params": params}
        if self.session:
            message["sessionId"] = self.session
        os.write(self._out, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._receive()
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
            self._events.append(reply)

    def open(self, url: str, width: int) -> None:
        """Show ``url`` in a ``width``-pixel wide screen and wait until it has loaded."""
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=900, deviceScaleFactor=1,
                  mobile=width < 500)
        self._events.clear()
        self.call("Page.navigate", url=url)
        while not any(event.get("method") == "Page.loadEventFired" for event in self._events):
            self._events.append(self._receive())

    def errors(self) -> list[str]:
        """JavaScript exceptions, console errors and failed loads since the page was opened."""
        found = []
        for event in self._events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                found.append(details.get("exception", {}).get("description") or details.get("text"))
            elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
                text = " ".join(str(a.get("value", a.get("description"))) for a in params["args"])
                # the theme's "Got invalid theme mode" on a fresh profile is not an error of the book
                found += [text] if re.search(r"Uncaught|Error|Failed to load", text) else []
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                found.append(f"{params['entry'].get('text')} {params['entry'].get('url', '')}")
        return found

    def evaluate(self, expression: str):
        reply = self.call("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in reply:
            raise RuntimeError(f"script failed: {reply['exceptionDetails']}")
        return reply["result"]["value"]

    def screenshot(self, target: Path, width: int) -> None:
        """The whole page as a reader scrolls through it: the screen made as tall as the page (so fixed
        and sticky parts keep their places), every image loaded first."""
        height = min(int(self.evaluate("document.documentElement.scrollHeight")), 16000)
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1,
                  mobile=width < 500)
        self.evaluate(LOAD_IMAGES_JS)
        shot = self.call("Page.captureScreenshot", format="png")
        target.write_bytes(base64.b64decode(shot["data"]))

    def close(self) -> None:
        os.close(self._out)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        os.close(self._in)


def screenshot_path(width: int, page: str) -> Path:
    return SCREENSHOTS / str(width) / (page.replace("/", "_").removesuffix(".html") + ".png")


@pytest.fixture(scope="module")
def layouts(built_book, tmp_path_factory) -> dict[tuple[int, str], dict]:
    """Every page measured at every width in :data:`WIDTHS`: {(width, page): measurements}; a
    full-page screenshot of each is written under _build/screenshots/WIDTH/ on the way."""
    require_browser()
    browser = Browser(tmp_path_factory.mktemp("profile"))
    measured = {}
    try:
        for width in WIDTHS:
            (SCREENSHOTS / str(width)).mkdir(parents=True, exist_ok=True)
            for page in book_pages(built_book):
                if 'http-equiv="Refresh"' in page.read_text():
                    continue  # a redirect (index.html): the page it leads to is measured itself
                name = page.relative_to(built_book).as_posix()
                target = screenshot_path(width, name)
                target.unlink(missing_ok=True)
                browser.open(page.as_uri(), width)
                script = f"const PROGRESS = {json.dumps(PROGRESS)};\n{MEASURE_JS}"
                try:
                    measured[width, name] = json.loads(browser.evaluate(script))
                except RuntimeError as error:
                    measured[width, name] = {"error": str(error)}
                measured[width, name]["errors"] = browser.errors()
                browser.screenshot(target, width)
    finally:
        browser.close()
    return measured


def problems_where(layouts: dict, check, widths=WIDTHS) -> list[str]:
    """``check(measurements, width)``'s complaints about every page at ``widths``."""
    return [f"{page} at {width} px: {problem}" for (width, page), result in sorted(layouts.items())
            if width in widths
            for problem in ([result["error"]] if "error" in result else check(result, width))]


def test_every_page_renders_without_javascript_errors(layouts):
    """No JavaScript error or failed load, no TeX left untypeset, every image shown."""
    def check(result, width):
        return ([f"JavaScript: {e}" for e in result["errors"]]
                + (["raw TeX left on the page (MathJax did not typeset it)"] if result["rawTex"] else [])
                + [f"an image did not load: {src}" for src in result["brokenImages"]])

    problems = problems_where(layouts, check)
    assert not problems, "\n".join(problems[:40])


def test_derivation_math_is_typeset_in_a_browser(layouts):
    derivation = layouts[max(WIDTHS), "notebooks/01-bound.html"]
    assert derivation["math"] >= 10, "MathJax did not typeset the derivation"
    assert not derivation["rawTex"], "raw TeX ($$, \\mathbb, \\frac, \\sum) left on the page"


def test_nothing_is_wider_than_its_column(layouts):
    """At 1400 px and at 390 px no element pokes out of the article's text column unless it sits in a
    box that scrolls sideways on its own (wide tables, long formulas), and the page itself never
    scrolls sideways; at 1400 px every table fits the column."""
    def check(result, width):
        column = f"the {result['column']}-px column"
        sideways = [f"the page scrolls sideways ({result['page']} px)"] if result["page"] > width else []
        return [f"wider than {column}, not in a scroll box: {w}" for w in result["wide"]] + sideways

    def tables_fit(result, width):
        return [f"a table wider than the {result['column']}-px column: {t}" for t in result["tables"]]

    problems = problems_where(layouts, check) + problems_where(layouts, tables_fit)
    assert not problems, "\n".join(problems[:40])


def tall_rows(result: dict, width: int) -> list[str]:
    return [f"a {row['height']}-px table row: {row['text']}" for row in result["rows"]
            if row["height"] > ROW_LIMIT]


def test_every_table_row_reads_at_a_glance(layouts):
    """At 1400 px and at 390 px no table row stands taller than ROW_LIMIT pixels and every table fits
    the column (test above), so a row's verdict reads without scrolling sideways or far down: on a
    phone a table that does not fit becomes cards, one per row (book/style/pcsm.js)."""
    problems = problems_where(layouts, tall_rows)
    assert not problems, "\n".join(problems[:40])


def test_display_formulas_fit_or_show_that_they_scroll(layouts):
    """At 1400 px and at 390 px a display formula wider than its room sits in a box that scrolls
    sideways and shows that it does (a shadow at the edge, or a scrollbar that takes room); none is cut
    off or runs past the column."""
    problems = problems_where(layouts, lambda result, width: result["equations"])
    assert not problems, "\n".join(problems[:40])


TRAP_PAGE = """<!doctype html><html><head><style>
body { margin: 0; } article { width: 300px; padding: 0 10px; }
mjx-container { display: block; } mjx-math { display: inline-block; width: 600px; height: 20px; }
.scrolls { overflow-x: auto; } .cued { background: linear-gradient(to right, white, grey); }
</style></head><body><article class="bd-article">
<table><tr><td>a tall row</td><td style="height: 260px">x</td></tr><tr><td>short</td><td>y</td></tr></table>
<mjx-container jax="CHTML" display="true"><mjx-math>past the edge</mjx-math></mjx-container>
<mjx-container jax="CHTML" display="true" style="overflow-x: hidden"><mjx-math>cut</mjx-math></mjx-container>
<mjx-container jax="CHTML" display="true" class="scrolls"><mjx-math>no cue</mjx-math></mjx-container>
<mjx-container jax="CHTML" display="true" class="scrolls cued"><mjx-math>cued</mjx-math></mjx-container>
</article></body></html>"""


def test_layout_checks_catch_tall_rows_and_clipped_formulas(tmp_path):
    """The measurements the two tests above read find what they look for: on a page made for it, the
    260-px row, and the three formulas that run past the edge, are cut off or scroll without a cue (the
    fourth, in a box with a shadow, passes)."""
    require_browser()
    page = tmp_path / "trap.html"
    page.write_text(TRAP_PAGE)
    browser = Browser(tmp_path / "profile")
    try:
        browser.open(page.as_uri(), 390)
        result = json.loads(browser.evaluate(f"const PROGRESS = {json.dumps(PROGRESS)};\n{MEASURE_JS}"))
    finally:
        browser.close()
    assert [row.split(": ")[1] for row in tall_rows(result, 390)] == ["a tall row x"]
    verdicts = [text.rsplit(")", 1)[1].strip() for text in result["equations"]]
    assert verdicts == ["runs past the column's edge", "is cut off",
                        "scrolls with nothing to show that it does"]


def test_pages_show_no_test_markers_or_progress_lines(layouts):
    def check(result, width):
        return ((["a visible NBVAL marker"] if result["nbval"] else [])
                + [f"a progress line in an output: {line!r}" for line in result["progress"]])

    problems = problems_where(layouts, check)
    assert not problems, "\n".join(problems[:40])


def test_api_page_renders_maths_and_no_mail_links(layouts):
    api = {width: result for (width, page), result in layouts.items() if page == "book/api.html"}
    assert api, "no API page in the built book"
    for width, result in api.items():
        mail = result.get("mailto")
        assert mail == 0, f"{mail} mailto: links on the API page at {width} px (autolinked 'a@b' text)"
        assert result.get("math", 0) > 0, f"no MathJax output (mjx-container) on the API page at {width} px"


def test_screenshots_of_every_page(layouts):
    """A full-page screenshot of every page at every width is kept under _build/screenshots/ (not
    committed) for a person to look at."""
    missing = [f"{width}/{page}" for width, page in layouts if not screenshot_path(width, page).exists()]
    assert not missing, f"no screenshot of {missing}"


PANDAS_PAGE = """<!doctype html><html><head><meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="{css}"><script src="{js}"></script>
</head><body><article class="bd-article" style="width: 370px"><table>
<thead><tr><th></th><th></th><th>I(X;Y) nats, a long column name</th><th>Bayes accuracy, also long</th></tr>
<tr><th>setting</th><th>d</th><th></th><th></th></tr></thead>
<tbody><tr><th rowspan="2">imbalanced</th><th>1</th><td style="height: 200px">1.022 (a tall row: cards)</td><td>0.799</td></tr>
<tr><th>2</th><td>1.239</td><td>0.899</td></tr></tbody></table></article></body></html>"""


def test_cards_name_each_cell_of_a_pandas_table_by_its_column(tmp_path):
    """A DataFrame with a named (multi-)index: the index names sit in a header row of their own and the
    outer index spans rows; on a phone each card's cell still carries its own column's name."""
    require_browser()
    style = REPO_ROOT / "book" / "style"
    page = tmp_path / "pandas.html"
    page.write_text(PANDAS_PAGE.format(css=(style / "pcsm.css").as_uri(), js=(style / "pcsm.js").as_uri()))
    browser = Browser(tmp_path / "profile")
    try:
        browser.open(page.as_uri(), 390)
        labels = json.loads(browser.evaluate(
            "JSON.stringify([...document.querySelectorAll('tbody tr')].map(r => [...r.cells].map("
            "c => c.getAttribute('data-label'))))"))
    finally:
        browser.close()
    assert labels == [["setting", "d", "I(X;Y) nats, a long column name", "Bayes accuracy, also long"],
                      ["d", "I(X;Y) nats, a long column name", "Bayes accuracy, also long"]]
