# Everyday commands for localllm.workstation. `make help` lists them.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
SCENARIOS ?= $(sort $(notdir $(patsubst %/molecule.yml,%,$(wildcard molecule/*/molecule.yml))))

.PHONY: help deps venv images standins demo demo-report demo-down test lint unit molecule \
	readmes build benchmark clean

help:
	@echo "make demo        build what is missing, start the two-machine demo fleet, run site.yml"
	@echo "make demo-down   remove the demo fleet"
	@echo "make test        lint, unit tests, stand-in tests and every molecule scenario"
	@echo "make lint | unit | molecule [SCENARIOS='ollama'] | benchmark | build | readmes"

deps:
	tests/tools/install-deps.sh

$(VENV)/.installed: requirements-dev.txt
	python3 -m venv $(VENV)
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@

venv: deps $(VENV)/.installed

images: deps
	tests/images/podman-host-setup.sh
	tests/images/build.sh bookworm trixie

standins: venv images
	tests/fleet/standins.sh up

# demo.sh builds the images itself, so it also works without make.
demo: venv
	tests/fleet/demo.sh up

demo-report: venv
	tests/fleet/demo.sh report

demo-down:
	tests/fleet/demo.sh down

lint: venv
	$(BIN)/yamllint -s .
	$(BIN)/ansible-lint
	$(PY) tests/tools/role_readme.py --check

unit: venv
	$(BIN)/pytest -q

molecule: venv standins
	set -e; for s in $(SCENARIOS); do echo "== molecule scenario $$s"; \
		$(BIN)/molecule test -s $$s; done

test: lint unit molecule

readmes: venv
	$(PY) tests/tools/role_readme.py

build: venv
	mkdir -p build
	$(BIN)/ansible-galaxy collection build --force --output-path build .

benchmark: venv standins
	$(PY) benchmarks/converge.py

clean: demo-down
	rm -rf build
