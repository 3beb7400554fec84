"""The EventBridge envelope every event a Deckhand function receives from EventBridge comes in.

Each function subclasses it and types `detail` (and `detail_type`, `source`) for the one event it
reads. It validates as Powertools' `EventBridgeModel` does, field for field (the tests hold the two
side by side), without loading Powertools' parser package, which costs about 3 ms of each cold start
for that one base class. The envelope's fields are EventBridge's: "Amazon EventBridge events" in the
EventBridge user guide.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class EventBridgeEvent(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    version: str
    id: str
    source: str
    account: str
    time: datetime
    region: str
    resources: list[str]
    detail_type: str = Field(alias="detail-type")
    detail: dict[str, Any] | BaseModel  # each event model types its own
    replay_name: str | None = Field(None, alias="replay-name")
