# psi0 workspace. `make sim` and `make test` set everything up themselves.
.PHONY: setup sim test bench clean help
SHELL := /bin/bash
PSI0 := .venv/bin/psi0
# Until the task demo lands, the main job runs the sim graph for a fixed time.
SIM_ARGS ?= --duration 30

help:
	@echo "make sim    set up, then run the main job on the simulated G1"
	@echo "make test   set up, then run every package's tests and the training tests"
	@echo "make setup  create .venv, install pinned deps, colcon build, install psi0"
	@echo "make bench  run the benchmarks in bench/"

setup:
	@bash tools/setup.sh

sim: setup
	$(PSI0) launch sim $(SIM_ARGS)

test: setup
	@bash tools/run_tests.sh

bench: setup
	@bash tools/run_bench.sh

clean:
	rm -rf build install log
