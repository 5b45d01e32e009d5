PYTHON ?= python

.PHONY: install quickstart test

install:
	PYTHON=$(PYTHON) bash scripts/install.sh

quickstart: install
	hf-ckb quickstart --output-dir ckb-quickstart

test:
	PYTHON=$(PYTHON) bash scripts/install.sh --test
	$(PYTHON) -m pytest -q -m "not gpu"
