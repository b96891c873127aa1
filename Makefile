# The runbook's wrappers. Everything runs through .venv, which the first target that needs it creates.
#
# Exit codes: make itself exits 2 whenever a recipe fails, whatever the task's own code (1 failed
# and rolled back, 2 usage, 3 locked, 4 needs a human). Every command below runs through $(RUN),
# which records that code; `scripts/make <target>` runs make and exits with it. Plain `make`
# still shows it in its "Error N" line.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
RUN    := sh $(dir $(lastword $(MAKEFILE_LIST)))scripts/record-exit

.PHONY: sandbox test lint typecheck deploy-staging deploy-prod guard-image-tag smoke migrate golive dbt-build bench clean

$(STAMP): setup.cfg pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,dbt]'
	@touch $(STAMP)

## make sandbox: the whole deploy rehearsal against the embedded sandbox (no AWS account needed)
sandbox: $(STAMP)
	$(RUN) $(BIN)/inv deploy --env sandbox

## make test: lint, type-check, and the whole test suite
# With bytecode caching on whatever the shell says (PYTHONDONTWRITEBYTECODE): without it each
# worker and each `inv` a test starts compiles the project again and re-does pytest's assertion
# rewriting of every test module. __pycache__ is ignored by git.
test: lint typecheck
	$(RUN) env -u PYTHONDONTWRITEBYTECODE $(BIN)/pytest -q -n 4 $(PYTEST_ARGS)

lint: $(STAMP)
	$(RUN) $(BIN)/ruff check .

# The library, runbooks/, tasks.py, tests/, bench/ and noxfile.py: setup.cfg's [mypy] files.
typecheck: $(STAMP)
	$(RUN) $(BIN)/mypy --strict

# DEPLOY_FLAGS: more `inv deploy` options, e.g. DEPLOY_FLAGS=--yes in a CI job whose approval is
# its protected environment's reviewers (.github/workflows/release.yml): there is no terminal there.
deploy-staging: $(STAMP)
	$(RUN) $(BIN)/inv deploy --env staging $(if $(IMAGE_TAG),--image-tag $(IMAGE_TAG),) $(DEPLOY_FLAGS)

# The guard comes first so that a missing tag is refused before anything is installed or called.
deploy-prod: guard-image-tag $(STAMP)
	$(RUN) $(BIN)/inv deploy --env production --image-tag $(IMAGE_TAG) $(DEPLOY_FLAGS)

guard-image-tag:
	@if [ -z "$(IMAGE_TAG)" ]; then echo "error: deploy-prod needs IMAGE_TAG=vX.Y.Z (a tagged release)" >&2; exit 2; fi

## make smoke / make migrate: the section-10 reference commands (ENV=staging; the sandbox by default)
smoke: $(STAMP)
	$(RUN) $(BIN)/inv deploy.smoke --env $(or $(ENV),sandbox)

migrate: $(STAMP)
	$(RUN) $(BIN)/inv ecs.run --env $(or $(ENV),sandbox) --command "python manage.py migrate --noinput"

## make golive: the go-live checklist (ENV=production; the sandbox by default), saved as evidence
golive: $(STAMP)
	$(RUN) $(BIN)/inv golive --env $(or $(ENV),sandbox)

## make dbt-build: the runbook's dbt build (ENV=staging; the sandbox by default)
dbt-build: $(STAMP)
	$(RUN) $(BIN)/inv dbt.build --env $(or $(ENV),sandbox)

bench: $(STAMP)
	$(RUN) $(BIN)/python bench/rollout_parallel.py
	$(RUN) $(BIN)/python bench/api_calls.py
	$(RUN) $(BIN)/python bench/startup.py
	$(RUN) $(BIN)/python bench/readonly.py
	$(RUN) $(BIN)/python bench/rehearsal.py
	$(RUN) $(BIN)/python bench/faults.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .nox build *.egg-info
