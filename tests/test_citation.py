"""CITATION.cff: how to cite the book. Its required fields (Citation File Format 1.2.0) are there, its
title, repository and version are the book's own (_config.yml, pyproject.toml), and it points at the
paper the book accompanies."""

from __future__ import annotations

import re
import tomllib

import yaml

from pcsm.experiments.results import REPO_ROOT

CFF = yaml.safe_load((REPO_ROOT / "CITATION.cff").read_text())
CONFIG = yaml.safe_load((REPO_ROOT / "_config.yml").read_text())
PROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
PAPER_AUTHORS = [("Qin", "Zhenyue"), ("Kim", "Dongwoo"), ("Gedeon", "Tom")]


def test_required_fields_of_cff_1_2() -> None:
    assert CFF["cff-version"] == "1.2.0"
    for key in ("message", "title", "authors"):
        assert CFF.get(key), f"CITATION.cff has no {key}"
    for author in CFF["authors"]:
        assert "name" in author or "family-names" in author, f"an author without a name: {author}"
    assert CFF.get("type", "software") in {"software", "dataset"}


def test_the_book_is_cited_as_it_names_itself() -> None:
    assert CFF["title"] == CONFIG["title"], "CITATION.cff's title is not _config.yml's"
    assert CFF["authors"] == [{"name": CONFIG["author"]}], "the authors are not _config.yml's author"
    assert CFF["repository-code"] == CONFIG["repository"]["url"], "repository-code is not _config.yml's"
    assert str(CFF["version"]) == PROJECT["version"], "version is not pyproject.toml's"
    license_ = PROJECT.get("license")
    if license_ is None:
        assert "license" not in CFF, "CITATION.cff states a license that pyproject.toml does not"
    else:
        assert CFF.get("license") == (license_ if isinstance(license_, str) else license_.get("text"))


def test_the_paper_is_referenced_with_its_authors_and_arxiv_id() -> None:
    paper = CFF["references"][0]
    for key in ("type", "title", "authors"):  # required in a reference
        assert paper.get(key), f"the paper's reference has no {key}"
    assert paper["title"].startswith("Rethinking Softmax with Cross-Entropy")
    assert [(a["family-names"], a["given-names"]) for a in paper["authors"]] == PAPER_AUTHORS
    assert paper["url"] == "https://arxiv.org/abs/1911.10688"
    assert {"type": "other", "value": "arXiv:1911.10688"}.items() <= paper["identifiers"][0].items()
    assert re.fullmatch(r"10\.\d{4,9}/\S+", str(paper["doi"])), "not a DOI"
    bib = (REPO_ROOT / "references.bib").read_text()
    assert f"doi     = {{{paper['doi']}}}" in bib, "the paper's DOI differs from references.bib's"
