#!/usr/bin/env python3
"""CDK entry point: `cdk synth|deploy [-c deckhand:policy=FILE]`."""

import sys

from aws_cdk import App

from stacks.app import build
from stacks.policy import PolicyError

app = App()
try:
    build(app)
except PolicyError as invalid:
    print(invalid, file=sys.stderr)
    sys.exit(1)
app.synth()
