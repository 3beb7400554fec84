"""`python -m sandbox.server --port N`: the embedded AWS, served on localhost until SIGTERM.

The Powertools public parameter is seeded before the port opens: a template that references a
missing parameter makes moto answer 500 and the CDK CLI retry for most of a minute.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from pathlib import Path
from types import FrameType

from stacks.versions import REPO_ROOT, pinned_version

from . import ACCOUNT, REGION
from .gaps.app import make_app, make_server
from .gaps.ssm import seed_powertools

HOST = "127.0.0.1"  # what `localhost` resolves to for both boto3 and the CDK CLI
DEFAULT_LOG = REPO_ROOT / ".sandbox" / "server.log"

log = logging.getLogger("sandbox.server")


def configure_logging(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        filename=path,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )


def serve(port: int) -> None:
    layer = seed_powertools(pinned_version("aws-lambda-powertools"), ACCOUNT, REGION)
    log.info("seeded the Powertools layer parameter: %s", layer)
    server = make_server(HOST, port, make_app())
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %s: stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    # serve_forever runs beside the main thread, which alone may call shutdown() without a deadlock.
    worker = threading.Thread(target=server.serve_forever, name="moto", daemon=True)
    worker.start()
    log.info("listening on %s:%s", HOST, server.server_port)
    print(f"listening {server.server_port}", flush=True)
    stop.wait()
    server.shutdown()
    worker.join(timeout=5)
    server.server_close()
    log.info("stopped")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox.server", description=__doc__)
    parser.add_argument("--port", type=int, required=True, help="the port to listen on (localhost only)")
    parser.add_argument("--log", type=Path, default=DEFAULT_LOG, help="where to write the log (default: %(default)s)")
    args = parser.parse_args(argv)
    configure_logging(args.log)
    serve(args.port)


if __name__ == "__main__":
    main()
