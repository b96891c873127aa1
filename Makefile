# The runbook's wrappers. Everything runs through .venv, which the first target that needs it creates.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: sandbox test lint typecheck deploy-staging deploy-prod guard-image-tag smoke migrate golive dbt-build bench clean

$(STAMP): setup.cfg pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,dbt]'
	@touch $(STAMP)

## make sandbox: the whole deploy rehearsal against the embedded sandbox (no AWS account needed)
sandbox: $(STAMP)
	$(BIN)/inv deploy --env sandbox

## make test: lint, type-check, and the whole test suite
test: lint typecheck
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy --strict adinsights_ops

deploy-staging: $(STAMP)
	$(BIN)/inv deploy --env staging $(if $(IMAGE_TAG),--image-tag $(IMAGE_TAG),)

# The guard comes first so that a missing tag is refused before anything is installed or called.
deploy-prod: guard-image-tag $(STAMP)
	$(BIN)/inv deploy --env production --image-tag $(IMAGE_TAG)

guard-image-tag:
	@if [ -z "$(IMAGE_TAG)" ]; then echo "deploy-prod needs IMAGE_TAG=vX.Y.Z (a tagged release)" >&2; exit 2; fi

## make smoke / make migrate: the section-10 reference commands (ENV=staging; the sandbox by default)
smoke: $(STAMP)
	$(BIN)/inv deploy.smoke --env $(or $(ENV),sandbox)

migrate: $(STAMP)
	$(BIN)/inv ecs.run --env $(or $(ENV),sandbox) --command "python manage.py migrate --noinput"

## make golive: the go-live checklist (ENV=production; the sandbox by default), saved as evidence
golive: $(STAMP)
	$(BIN)/inv golive --env $(or $(ENV),sandbox)

## make dbt-build: the runbook's dbt build (ENV=staging; the sandbox by default)
dbt-build: $(STAMP)
	$(BIN)/inv dbt.build --env $(or $(ENV),sandbox)

bench: $(STAMP)
	$(BIN)/python bench/rollout_parallel.py
	$(BIN)/python bench/api_calls.py
	$(BIN)/python bench/startup.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .nox build *.egg-info
