# psi0 workspace. `make sim` and `make test` set everything up themselves.
.PHONY: setup sim sim-bare test bench demo-data demo-train demo-eval demo clean help
SHELL := /bin/bash
PSI0 := .venv/bin/psi0
# The main job: the shipped demo checkpoint (checkpoints/sim_demo, made by `make demo`) drives the simulated
# G1 through the full graph on seeds it never saw; prints success, control rates, latency, seam jumps and
# writes runs/sim/policy.mp4. Override, e.g. SIM_ARGS="--set episode_runner.episodes=10".
SIM_ARGS ?=
DEMO_ARGS ?=

help:
	@echo "make sim         set up, then run the trained policy on the simulated G1 (video in runs/sim/)"
	@echo "make sim-bare    set up, then run the bare sim graph (sim, camera, bridge, monitor) for 30 s"
	@echo "make test        set up, then run every package's tests and the training tests"
	@echo "make demo        record -> convert -> train -> evaluate -> report, in runs/demo (about 1.5 h)"
	@echo "make demo-data | demo-train | demo-eval   the steps of make demo (demo-train converts first)"
	@echo "make setup       create .venv, install pinned deps, colcon build, install psi0"
	@echo "make bench       run the benchmarks in bench/"

setup:
	@bash tools/setup.sh

sim: setup
	$(PSI0) launch demo_eval --set episode_runner.episodes=3 --set episode_runner.summary_path=runs/sim/summary.json \
		--set episode_runner.video_path=runs/sim/policy.mp4 --set episode_runner.video_episodes=3 $(SIM_ARGS)

sim-bare: setup
	$(PSI0) launch sim --duration 30

test: setup
	@bash tools/run_tests.sh

bench: setup
	@bash tools/run_bench.sh

demo-data: setup
	$(PSI0) demo data $(DEMO_ARGS)

demo-train: setup
	$(PSI0) demo convert $(DEMO_ARGS)
	$(PSI0) demo train $(DEMO_ARGS)

demo-eval: setup
	$(PSI0) demo eval $(DEMO_ARGS)
	$(PSI0) demo report $(DEMO_ARGS)

demo: setup
	$(PSI0) demo all $(DEMO_ARGS)

clean:
	rm -rf build install log
