# The README's commands. Each installs what it needs: .venv from the pinned requirements,
# and the CDK CLI from npm into ./node_modules.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CDK := node_modules/.bin/cdk
CUSTODIAN_VENV := .venv-custodian

# Quiet the Node 20 end-of-life banners (jsii and the CDK CLI) and opt out of CDK telemetry.
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
export CDK_DISABLE_CLI_TELEMETRY := true
export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED := true
export CDK_DISABLE_VERSION_CHECK := true
export npm_config_update_notifier := false
export npm_config_fund := false
export npm_config_audit := false
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: test demo bench lint typecheck unit quick synth cfn-lint sandbox-down clean

# Two at a time (mypy, lint and the CDK synth beside pytest's workers); each target's output kept together. make starts
# the goals in this order: pytest, the longest, first.
test: $(VENV)/.installed $(CDK)
	$(MAKE) --jobs=2 --output-sync=target unit typecheck lint synth cfn-lint

# The Python demo, the organization's (21 member accounts), then the AWS CLI tutorial, each on a sandbox of its own.
demo: $(VENV)/.installed $(CDK)
	$(PY) -m sandbox demo
	$(PY) -m sandbox demo --organization
	PY=$(PY) bash sandbox/tutorial/aws-cli.sh

bench: $(VENV)/.installed $(CUSTODIAN_VENV)/.installed
	$(PY) -m benchmarks

# Cloud Custodian, which the cleanup bench compares with, in its own environment (its boto3 is not ours).
$(CUSTODIAN_VENV)/.installed: benchmarks/custodian-requirements.txt
	test -x $(CUSTODIAN_VENV)/bin/python || $(PYTHON) -m venv $(CUSTODIAN_VENV)
	$(CUSTODIAN_VENV)/bin/pip install --quiet --disable-pip-version-check -r benchmarks/custodian-requirements.txt
	touch $@

$(VENV)/.installed: requirements.txt requirements-dev.txt constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11 or newer is needed as $(PYTHON)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	touch $@

$(CDK): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy

unit: $(VENV)/.installed $(CDK)
	$(VENV)/bin/pytest -n auto --dist loadgroup

# The quick loop: the tests that need no AWS stand-in (moto, a sandbox server, the CDK, the IAM simulator; the
# `aws` marker, set in tests/conftest.py), each property at a few examples.
quick: $(VENV)/.installed
	$(VENV)/bin/pytest -m "not aws" --hypothesis-profile=quick

# The whole app through the real CDK CLI, with cdk-nag's AwsSolutions pack: any finding that is
# not acknowledged (with its reason, beside the resource) fails the synth.
synth: $(VENV)/.installed $(CDK)
	$(CDK) synth --quiet

cfn-lint: synth
	$(VENV)/bin/cfn-lint --non-zero-exit-code error cdk.out/*.template.json

clean:
	rm -rf cdk.out .mypy_cache .ruff_cache .pytest_cache .hypothesis
