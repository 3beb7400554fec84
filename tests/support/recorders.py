"""A recorder of the AWS calls Deckhand's clients make that change something, for the "refused means nothing
changed" property tests."""

from __future__ import annotations

from typing import Any

from functions.shared import clients

READS = ("Get", "Describe", "List", "Query", "Scan", "BatchGet")


class MutatingCalls:
    """Every call that is not a read, as service:Operation, from every client of functions.shared.clients."""

    def __init__(self) -> None:
        self.made: list[str] = []
        clients._session().events.register("before-call", self._record)

    def _record(self, model: Any, **_: Any) -> None:
        if not model.name.startswith(READS):
            self.made.append(f"{model.service_model.service_name}:{model.name}")

    def close(self) -> None:
        clients._session().events.unregister("before-call", self._record)
