# The two commands of the README's quick start:
#   make demo   simulate a Miniscope V4 recording and run the whole workflow on it
#   make test   run the test suite (everything CI runs through pytest)
# and for developers:
#   make test-fast     the unit and property tests, without workflow, fault, browser and slow tests (tests/README.md)
#   make test-configs  run the workflow for real on the small .test/ configurations, as CI does
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
DEMO := resources/demo_recording
DEMO_OPTIONS := --n-frames 2000 --height 256 --width 256 --n-neurons 40 --seed 1

.PHONY: demo test test-fast test-configs install lint report clean-demo slurm-check

$(BIN)/.installed: pyproject.toml
	@echo "==> creating $(VENV) with $(PYTHON) and installing ace-neuro, Snakemake and pytest into it"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[workflow,test]'
	@touch $@

install: $(BIN)/.installed

$(DEMO)/ground_truth.h5: | $(BIN)/.installed
	@echo "==> simulating the demo recording into $(DEMO) (ace-neuro simulate $(DEMO) $(DEMO_OPTIONS))"
	$(BIN)/ace-neuro simulate $(DEMO) $(DEMO_OPTIONS)

demo: install $(DEMO)/ground_truth.h5
	@echo "==> running the workflow: snakemake --cores all (config/config.yaml, config/experiments.csv)"
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --cores all
	@echo "==> done: results are in results/demo/ (make report builds results/report.html)"

report: install
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --report results/report.html
	@echo "==> report written to results/report.html"

test: install
	@echo "==> running the tests: pytest (unit tests, then workflow tests that run Snakemake on tiny recordings)"
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/pytest

# The developer's loop: the lanes' markers are registered in pyproject.toml and set by tests/conftest.py.
FAST_TESTS := not workflow and not faults and not browser and not slow

test-fast: install
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/pytest -m "$(FAST_TESTS)"

TEST_RECORDING := .test/recording

$(TEST_RECORDING)/ground_truth.h5: | $(BIN)/.installed
	$(BIN)/ace-neuro simulate $(TEST_RECORDING) --n-frames 200 --height 48 --width 48 --n-neurons 3 --seed 2

# The workflow's own checks: snakefmt, snakemake --lint and a dry run on each small test configuration (.test/).
lint: install $(TEST_RECORDING)/ground_truth.h5
	$(BIN)/snakefmt --check workflow
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --lint --configfile .test/config/config.yaml
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake -n --quiet rules --configfile .test/config/config.yaml
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake -n --quiet rules --configfile .test/config-pw-rigid/config.yaml
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake -n --quiet rules --configfile .test/config-caiman/config.yaml

# The workflow run for real on each small configuration (the catalog's habit): the defaults, pw-rigid motion with
# patches, and CaImAn's engine where `import caiman` works (conda env workflow/envs/caiman.yaml), else skipped.
TEST_CONFIGS := .test/config .test/config-pw-rigid

test-configs: install $(TEST_RECORDING)/ground_truth.h5
	@for config in $(TEST_CONFIGS); do \
		echo "==> snakemake --cores all --configfile $$config/config.yaml"; \
		PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --cores all --quiet rules --configfile $$config/config.yaml \
			|| exit 1; \
	done
	@if $(BIN)/python -c "import caiman" 2>/dev/null; then \
		echo "==> snakemake --cores all --configfile .test/config-caiman/config.yaml"; \
		PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --cores all --quiet rules \
			--configfile .test/config-caiman/config.yaml; \
	else \
		echo "==> skipping .test/config-caiman: CaImAn is not importable here (it is on conda-forge only:" \
			"workflow/envs/caiman.yaml; docs/engines.md)"; \
	fi

# As root on a Debian-based machine: install a one-node SLURM and run a small recording through the SLURM profile.
slurm-check: install
	$(BIN)/python -m pip install --quiet -e '.[workflow,test,slurm]'
	bash tests/slurm_check.sh

clean-demo:
	rm -rf $(DEMO) results/demo
