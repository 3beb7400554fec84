"""The sandbox server's process and state file."""

import subprocess
from pathlib import Path

from sandbox import process


def test_down_is_idempotent_and_forgets_a_dead_server(tmp_path: Path) -> None:
    paths = process.Paths(tmp_path)
    assert process.down(paths) == "nothing running"
    finished = subprocess.Popen(["true"])
    finished.wait()
    process.write_state(paths, {"endpoint": "http://localhost:1", "pid": finished.pid})

    assert process.down(paths) == "nothing running"
    assert process.read_state(paths) is None
