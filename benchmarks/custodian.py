"""Cloud Custodian's equivalent of Deckhand's snapshot cleanup, run from its own virtual environment."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from pathlib import Path

from benchmarks.estate import MARK_TAG, PROTECT_TAG
from benchmarks.measured import Measured, measured
from benchmarks.plan import MIN_AGE_DAYS

VENV = Path(__file__).resolve().parent.parent / ".venv-custodian"
REQUIREMENTS = Path(__file__).with_name("custodian-requirements.txt")  # what `make bench` installs in VENV
VERSION = next(line.split("==")[1] for line in REQUIREMENTS.read_text().splitlines() if line.startswith("c7n=="))
PYTHON = VENV / "bin" / "python"
POLICY_NAME = "bench-stale-snapshots"


def policy() -> dict[str, object]:
    """Own snapshots (Custodian's default OwnerIds self) older than the minimum age, unprotected, not behind an
    AMI, carrying the mark with a due date that has passed; delete them."""
    return {
        "policies": [
            {
                "name": POLICY_NAME,
                "resource": "aws.ebs-snapshot",
                "filters": [
                    {"type": "age", "days": MIN_AGE_DAYS, "op": "ge"},
                    {f"tag:{PROTECT_TAG}": "absent"},
                    {f"tag:{MARK_TAG}": "present"},
                    # expiration: compares the tag's date with now + 0 days
                    {"type": "value", "key": f"tag:{MARK_TAG}", "value_type": "expiration", "value": 0, "op": "lte"},
                    {"type": "skip-ami-snapshots", "value": True},
                ],
                "actions": ["delete"],
            }
        ]
    }


def run(aws_env: Mapping[str, str], region: str) -> tuple[Measured, int]:
    """`custodian run` against the bench's server; returns its measure and how many snapshots it matched."""
    if not (VENV / "bin" / "custodian").exists():
        raise RuntimeError(f"Cloud Custodian is not installed in {VENV}: `make bench` installs it from {REQUIREMENTS}")
    with tempfile.TemporaryDirectory(prefix="bench-custodian-") as folder:
        path = Path(folder) / "policy.json"  # Custodian reads JSON policy files as well as YAML
        path.write_text(json.dumps(policy()))
        output = Path(folder) / "out"
        args = ["run", "--cache-period", "0", "-s", str(output), "-r", region, str(path)]
        # `custodian` is the console script of c7n.cli:main
        result = measured(str(PYTHON), "c7n.cli:main", args, {**aws_env, "PATH": str(VENV / "bin")})
        result.check("custodian run")
        matched = json.loads((output / POLICY_NAME / "resources.json").read_text())
        return result, len(matched)
