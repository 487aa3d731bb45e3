# Power Marketing Ops. `make demo` runs the main job on the built-in lab;
# `make test` runs every check, fastest first. Both call `make setup` themselves.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

export PATH := $(CURDIR)/.venv/bin:$(CURDIR)/.cache/tools/bin:$(PATH)
export CONTAINERS_CONF := $(CURDIR)/lab/containers.conf
export ANSIBLE_FORCE_COLOR ?= $(if $(CI),0,1)
export PY_COLORS ?= $(if $(CI),0,1)

INVENTORY ?= inventory/lab
ifdef TIMING
export ANSIBLE_CALLBACKS_ENABLED := ansible.posix.profile_tasks,ansible.posix.timer
endif
# Playbooks run with Mitogen's strategy (ansible.cfg); MITOGEN=0 runs the stock one (README "Speed").
ifeq ($(MITOGEN),0)
export ANSIBLE_STRATEGY := linear
endif

.PHONY: help setup lock lint lint-project ansible-lint unit syntax lab-secrets inventory-tests fast fast-core wheelhouse molecule lab-up lab-down lab-status \
        artifacts ee lab-image lab-check lab-converge lab-idempotence lab-verify lab-drills lab-tests lab-test test demo deploy rollback patch load backup restore-drill bench bench-awx bench-backup bench-comply bench-strategy bench-monitoring bench-lynis bench-hardening clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 20

setup: ## install Debian packages and the pinned virtualenv (fast when nothing changed)
	@bash scripts/setup.sh

lock: ## re-resolve requirements.in into the locked requirements.txt
	@bash scripts/lock.sh

# ---------------------------------------------------------------- tier 1: seconds
lint: lint-project ansible-lint ## yamllint, ansible-lint (production profile), role READMEs against argument specs, tasks against the controls, playbooks call roles only

ansible-lint: setup ## ansible-lint, production profile (about 90 s of two cores: make test runs it beside lab-tests)
	ansible-lint --profile production

lint-project: setup ## every lint but ansible-lint: yamllint, role READMEs against argument specs, tasks against the controls, playbooks call roles only
	yamllint --strict .
	python scripts/role_docs.py --check
	python scripts/controls_doc.py --check
	python scripts/cis_coverage.py --check
	python scripts/lint_controls.py
	python scripts/lint_structure.py
	python scripts/lint_rules.py
	python scripts/lint_awx.py
	for inventory in inventory/lab inventory/staging inventory/production; do pmops topology -i $$inventory; done

unit: setup ## unit tests of pmops, filters and modules
	pytest tests/unit

syntax: setup ## syntax check of every playbook
	ansible-playbook -i $(INVENTORY) --syntax-check playbooks/*.yml | sed -n 's/^playbook: /syntax ok: /p'

lab-secrets: setup ## make the lab's keys and certificates under .lab/ (no containers)
	pmops lab secrets

inventory-tests: setup lab-secrets artifacts ## bad inventories are refused before any change
	pytest tests/inventory -n 2

artifacts: ## build the marketing portal's release artifacts (tarball + manifest with sha256 per release)
	python3 apps/marketing-portal/build.py

fast: lint unit syntax inventory-tests ## every check that needs no host

# make test's first tier: fast but ansible-lint, which it runs beside lab-tests (they leave
# about 40 % of the two cores idle while debootstrap and systemd work).
fast-core: lint-project unit syntax inventory-tests ## make fast without ansible-lint

# ---------------------------------------------------------------- tier 2: minutes
wheelhouse: setup ## wheels of requirements.txt in .cache/wheelhouse (control nodes with no route to PyPI)
	python -c 'from pmops import ee; ee.build_wheelhouse()'

ee: setup ## build the execution environment (ee/execution-environment.yml) on the lab image, from the wheelhouse (cached)
	pmops ee build

lab-image: setup ## build the lab image with debootstrap (cached: rebuilt only when lab/image/ changes)
	pmops lab image

molecule: lab-image ## molecule scenarios (create, converge, idempotence, check, verify)
	molecule test --all

# ---------------------------------------------------------------- tier 3: the lab
lab-up: setup ## start the lab (six hosts); harmless when it is up
	pmops lab up

lab-down: setup ## remove the lab's containers, network and keys
	pmops lab down

lab-status: setup ## show the lab
	pmops lab status

# LAB_FRESH=1: the lab was just created and nothing has touched it since (make test sets it
# when lab-tests, which end with `pmops lab up` from nothing, ran right before).
lab-check: setup artifacts ## on a freshly created lab, site.yml in check mode must not fail
ifndef LAB_FRESH
	pmops lab down
	pmops lab up
endif
	ansible-playbook -i $(INVENTORY) playbooks/site.yml --check --diff

lab-converge: lab-up artifacts ## converge site.yml on the lab
	@mkdir -p .cache
	ansible-playbook -i $(INVENTORY) playbooks/site.yml | tee .cache/last-converge.log

lab-idempotence: lab-up ## a second converge must report changed=0 on every host
	python scripts/assert_idempotent.py -i $(INVENTORY) playbooks/site.yml

lab-verify: lab-up ## testinfra suites against the lab inventory (four files at a time)
	pytest tests/integration --hosts='ansible://pmops' --ansible-inventory=$(INVENTORY) --sudo -p no:cacheprovider \
	    -n 4 --dist loadfile

# Phases in tests/drills/conftest.py: the fleet-wide compliance drills alone, then two lanes of
# hosts side by side, then the application drills (load through every tier, patching) alone.
lab-drills: lab-up artifacts ## failure drills on the converged lab (compliance, lockouts, backups, deploys under load, patching)
	pytest tests/drills -m fleet --durations=0 --durations-min=3
	pytest tests/drills -m lanes -n 2 --dist loadgroup --durations=0 --durations-min=3
	pytest tests/drills -m last --durations=0 --durations-min=3

lab-tests: setup ## the lab's own behaviour: up twice, recovery from leftovers, down
	pytest tests/lab/test_lab_lifecycle.py

lab-image-tests: lab-image ## an interrupted image build is cleaned up and rebuilt (an image of its own; no lab host)
	pytest tests/lab/test_lab_image.py

lab-test: lab-check lab-converge lab-idempotence lab-verify lab-drills

test: ## everything, fastest first, molecule beside the lab tiers (what CI runs); then each tier's time against its budget
	@python3 scripts/test_tiers.py
	@echo "make test: all tiers passed"

demo: lab-up lab-converge ## set up, start the lab, converge site.yml, print a summary
	@python scripts/demo_summary.py -i $(INVENTORY)

deploy: lab-up artifacts ## rolling, health-gated deploy on the lab (pmops deploy, recorded): make deploy VERSION=1.1.0
	pmops deploy -i $(INVENTORY) $(VERSION)

rollback: lab-up ## rolling rollback on the lab: make rollback [TO=1.0.0] (default: the previous release)
	pmops rollback -i $(INVENTORY) $(TO)

patch: lab-up ## rolling OS patching on the lab (reports under .cache/patch/)
	pmops patch -i $(INVENTORY)

backup: lab-up ## run every lab host's backup now (the timers run it daily)
	pmops backup -i $(INVENTORY)

restore-drill: lab-up ## restore the newest dumps into scratch databases and compare them with the live ones
	pmops restore --drill -i $(INVENTORY)

load: setup ## steady load through web-01 for DURATION seconds (default 30), counting failed requests
	pmops load --seconds $(or $(DURATION),30)

bench-lynis: lab-converge ## Lynis: an untouched host beside a converged one
	python bench/bench_lynis.py

bench-hardening: lab-up ## hardening roles on one host: first converge and re-run
	python bench/bench_hardening.py

bench-backup: lab-up ## backup and restore time and throughput of a generated database (MB=1024)
	python bench/bench_backup.py --mb $(or $(MB),1024)

bench-awx: lab-up ee ## the same short job in the virtualenv, in the execution environment and on an execution node (lab converged)
	python bench/bench_awx.py

bench-comply: lab-up ## pmops comply on 1, 2, 4 and 6 hosts with the time of each phase, then 6 live-only and --check-mode (lab converged)
	python bench/bench_comply.py

bench-strategy: lab-up ## controller CPU of site.yml in check mode with one of the strategy shim's additions on and off (BENCH_ARGS="--switch warm|wait|freeze ..."; lab converged)
	python bench/bench_strategy.py $(BENCH_ARGS)

bench-monitoring: lab-up ## Prometheus' series per host (goal 1,500), its memory and rule evaluation time (lab converged)
	python bench/bench_monitoring.py

bench-scale: setup artifacts ## the scale lab (48 generic hosts) up and converged, then re-run, comply and slices at 6, 12, 24 and 48 (about 1.5 h)
	pmops lab up --scale 48
	@mkdir -p .cache
	ansible-playbook -i .lab/scale playbooks/site.yml > .cache/scale-converge.log
	python bench/bench_scale.py

bench: lab-up ## benchmarks (prints tables; see bench/README.md)
	python bench/bench_lab.py $(BENCH_ARGS)

clean: ## remove the lab, caches and the virtualenv (keeps the cached image)
	-pmops lab down
	rm -rf .cache .venv
