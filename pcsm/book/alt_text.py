"""Sphinx extension: alt text for figures pasted from another page.

A figure's alt text has one home, the metadata of the notebook cell that draws it
(``{"mystnb": {"image": {"alt": "..."}}}``), which MyST-NB applies to the images that cell shows. A
figure glued there and pasted on another page (``{glue:any}`` with ``:doc:``, as the landing page does)
is rendered by MyST-NB's cross-document post-transform, which drops cell options and leaves the image
with its file name as alt text. This extension looks the alt text up in the source notebook before
that transform runs and sets it on the pasted image after.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
from docutils import nodes
from sphinx.application import Sphinx
from sphinx.transforms.post_transforms import SphinxPostTransform

ALT_KEY = "pcsm_alt"


def glued_alt(notebook: Path, key: str) -> str | None:
    """The ``mystnb.image.alt`` metadata of the cell in ``notebook`` that glued ``key``; None if no cell
    did, or it has none."""
    for cell in nbformat.read(notebook, as_version=4).cells:
        for output in cell.get("outputs", []):
            if output.get("metadata", {}).get("scrapbook", {}).get("name") == key:
                return cell.metadata.get("mystnb", {}).get("image", {}).get("alt")
    return None


def _pending_references() -> type:
    from myst_nb.ext.glue.utils import PendingGlueReference

    return PendingGlueReference


class MarkPastedFigures(SphinxPostTransform):
    """Before MyST-NB resolves cross-document pastes (its priority 5): wrap each pasted block in a
    container that carries the source cell's alt text."""

    default_priority = 4

    def apply(self, **kwargs: Any) -> None:
        for node in list(self.document.findall(_pending_references())):
            if node.inline:
                continue
            alt = glued_alt(Path(self.env.doc2path(node.refdoc)), node.key)
            if alt:
                box = nodes.container(classes=["pcsm-pasted"])
                box[ALT_KEY] = alt
                node.replace_self(box)
                box += node


class LabelPastedFigures(SphinxPostTransform):
    """After the pastes are resolved: the alt text on every image of a marked container."""

    default_priority = 6

    def apply(self, **kwargs: Any) -> None:
        for box in list(self.document.findall(nodes.container)):
            alt = box.attributes.pop(ALT_KEY, None)
            if alt:
                for image in box.findall(nodes.image):
                    image["alt"] = alt


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_post_transform(MarkPastedFigures)
    app.add_post_transform(LabelPastedFigures)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
