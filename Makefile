# pyker lab. The two commands of README.md:
#   make lab    install what is missing, build the base images, start JupyterLab
#   make test   the same set-up without JupyterLab, then the whole test suite (CI: .ci/run)
# Every step is idempotent: a second run only checks.

PYTHON ?= python3
VENV ?= .venv
PYTEST_ARGS ?=

# The Debian packages pyker drives: base images (busybox-static, debootstrap), NAT
# (iptables; iproute2's `ip` for the tests' own checks), image tools to check
# interoperability (skopeo, umoci), the OCI runtimes
# pyker can hand a bundle to (runc, crun), tini for `run --init`, chromium for the test
# that screenshots a rendered notebook (headless, on a local file), and docker-registry (the
# CNCF distribution registry) that the labs and tests run on 127.0.0.1 for push and pull,
# and prometheus, which the metrics test (and the monitoring lab) start on 127.0.0.1 to
# scrape `pyker metrics serve`. gcc and libc6-dev build the `pyker` program's C client.
APT_PACKAGES := busybox-static debootstrap iproute2 iptables skopeo umoci runc crun tini chromium \
	docker-registry prometheus gcc libc6-dev
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
PYKER := $(VENV)/bin/pyker
PYTEST := bash scripts/pytest-or-fail $(VENV)/bin/python

.DEFAULT_GOAL := help
.PHONY: help lab test unit packages venv images lab-images clean-lab

help:
	@echo "make lab        install, bootstrap the base images, start JupyterLab on 127.0.0.1"
	@echo "make test       install, bootstrap, run the whole test suite (as root)"
	@echo "make unit       only tests/unit (no root, no Debian packages)"
	@echo "make clean-lab  remove $(VENV)"

lab: lab-images
	$(PYKER) system forkserver start
	mkdir -p notebooks
	PATH="$(abspath $(VENV))/bin:$$PATH" $(VENV)/bin/jupyter lab --allow-root --ip 127.0.0.1 \
	  --no-browser --notebook-dir notebooks

# The notebooks run under nbval in a sandbox (python -m grader sandbox): a store of their
# own seeded with the base images, and a network namespace of their own, so the host's
# network is never changed. Their committed outputs are compared once sanitized (ids,
# times, addresses, PIDs: notebooks/sanitize.cfg). While notebooks/ holds no notebook the
# step says so; once it does, pytest-or-fail makes "collected nothing" a failure.
NOTEBOOKS ?= notebooks
NBVAL_ARGS ?= --nbval --nbval-current-env --nbval-cell-timeout 300 \
	--nbval-sanitize-with notebooks/sanitize.cfg

test: lab-images
	$(PYTEST) $(PYTEST_ARGS)
	@if ls $(NOTEBOOKS)/*.ipynb > /dev/null 2>&1; then \
	  echo "$(VENV)/bin/python -m grader sandbox -- pytest $(NBVAL_ARGS) $(NOTEBOOKS)"; \
	  $(VENV)/bin/python -m grader sandbox --images busybox,debian,python,redis,stress,jpetazzo/clock,mysql,figlet,nginx,strace -- \
	    $(PYTEST) $(NBVAL_ARGS) $(NOTEBOOKS); \
	else \
	  echo "nbval: no notebook in $(NOTEBOOKS)/ yet: nothing to compare"; \
	fi

unit: venv
	$(PYTEST) tests/unit $(PYTEST_ARGS)

# dpkg-query's Status is "install ok installed" (or "hold ok installed") once a package
# is there; apt is only called, and its lists only refreshed, for what is missing.
packages:
	@missing=; \
	for p in $(APT_PACKAGES); do \
	  case "$$(dpkg-query -W -f='$${Status}' $$p 2>/dev/null)" in \
	    *" ok installed") ;; \
	    *) missing="$$missing $$p" ;; \
	  esac; \
	done; \
	if [ -z "$$missing" ]; then \
	  echo "Debian packages: all present ($(APT_PACKAGES))"; \
	else \
	  echo "Debian packages: installing$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@# docker-registry's package enables a service on *:5000, prometheus's one on *:9090 (and
	@# node-exporter's, when recommends are installed, on *:9100); the labs and tests start
	@# their own on 127.0.0.1 (python -m pyker.registry.server, prometheus --config.file),
	@# so the packages' services are switched off.
	@for service in docker-registry prometheus prometheus-node-exporter; do \
	  if systemctl is-enabled $$service > /dev/null 2>&1; then \
	    echo "$$service: disabling the package's service (labs run their own)"; \
	    $(SUDO) systemctl disable $$service > /dev/null 2>&1; \
	  fi; \
	  if [ -d /run/systemd/system ] && systemctl is-active $$service > /dev/null 2>&1; then \
	    $(SUDO) systemctl stop $$service; \
	  fi; \
	done

venv: $(VENV)/.installed $(VENV)/.client

# The stamp is newer than pyproject.toml once pip has succeeded: a second run skips pip.
# editable_mode=compat installs a plain path in a .pth file: the default editable finder
# imports pathlib and more at every interpreter start (~20 ms on each `pyker` command).
$(VENV)/.installed: pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --disable-pip-version-check -e '.[lab,test]' \
	  --config-settings editable_mode=compat
	touch $@

# The `pyker` program pip installed is the Python client (bin/pyker); where a C compiler
# exists it is replaced by the same client in C (pyker/cli/client.c), ~20 ms quicker a
# command. A new pip install rewrites the script, so the stamp depends on pip's.
CC ?= cc
$(VENV)/.client: pyker/cli/client.c $(VENV)/.installed
	@if command -v $(CC) > /dev/null; then \
	  $(CC) -O2 -Wall -Wextra -Werror -DPYKER_PYTHON='"$(abspath $(VENV))/bin/python"' \
	    -o $(VENV)/bin/pyker.new pyker/cli/client.c && \
	  mv $(VENV)/bin/pyker.new $(VENV)/bin/pyker && echo "pyker: the C client"; \
	else \
	  echo "pyker: no C compiler ($(CC)): the Python client stays the pyker program"; \
	fi
	touch $@

# `pyker bootstrap` does nothing when the image's tags are already in the store.
images: packages venv
	$(PYKER) bootstrap busybox
	$(PYKER) bootstrap debian

# The course's images (labs/images/*/Dockerfile, FROM debian:bookworm, apt from Debian's
# registry): about 90 s the first time, all cache afterwards.
lab-images: images
	PYKER=$(PYKER) bash scripts/build-lab-images
	@# TP 09 builds with gcc and Go inside the graders' sandbox, which has only `lo`: their
	@# .deb files are served from the host's apt cache (labs/08-dockerfile/depot.py), put
	@# there once with `apt-get download` (nothing to do on the next runs).
	$(PYTHON) labs/09-multistage/paquets.py telecharger || \
	  { $(SUDO) apt-get update -qq && $(PYTHON) labs/09-multistage/paquets.py telecharger; }
	@# TP 08's apt demonstration installs tini the same way: its .deb must be in the cache
	@# even where the package came preinstalled.
	@ls /var/cache/apt/archives/tini_*.deb > /dev/null 2>&1 || \
	  (cd /var/cache/apt/archives && $(SUDO) apt-get download -q tini)

clean-lab:
	rm -rf $(VENV)
