"""Versions the stacks take from the pinned requirements, so code and layer never drift apart."""

import re
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def pinned_version(package: str, requirements: Path = REPO_ROOT / "requirements.txt") -> str:
    pattern = re.compile(rf"^{re.escape(package)}==([\w.]+)\s*(#.*)?$", re.IGNORECASE)
    for line in requirements.read_text(encoding="utf-8").splitlines():
        match = pattern.match(line.strip())
        if match:
            return match.group(1)
    raise ValueError(f"{requirements} does not pin {package} with '=='")
