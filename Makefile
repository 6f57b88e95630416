# The two set-up commands: `make serve` (serve the default models) and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.install-stamp

# llama-cpp-python compiles llama.cpp from source. A portable x86-64 build (AVX2, no AMX):
# -march=native enables AMX kernels that virtual machines often forbid (SIGILL).
ifeq ($(shell uname -m),x86_64)
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
endif

.PHONY: install serve test lint models

install: $(STAMP) models

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# torch first, in its own call: the CPU build; an unpinned torch pulls a CUDA build.
	$(PIP) install -q torch==2.13.0
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PIP) install -q -e '.[all,dev,clients,ray]'
	# The example third-party plugins (two backends, one protocol adapter).
	# ctransformers 0.2.27 is archived: no deps wanted.
	$(PIP) install -q --no-deps ctransformers==0.2.27 py-cpuinfo
	$(PIP) install -q --no-deps -e examples/modelport-ctransformers -e examples/modelport-minimal \
		-e examples/modelport-echo-adapter
	touch $(STAMP)

models: $(STAMP)
	$(VENV)/bin/modelport pull --config plugins.toml
	$(VENV)/bin/modelport convert --config plugins.toml

serve: install
	$(VENV)/bin/modelport serve --config plugins.toml

test: install
	$(VENV)/bin/pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check modelport tests
	$(VENV)/bin/mypy
