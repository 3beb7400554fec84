"""The switches in SSM Parameter Store: all read with one cached GetParametersByPath call, one written at a time."""

from __future__ import annotations

import json

from aws_lambda_powertools.utilities.parameters import SSMProvider

from .clients import client
from .switches import SWITCH_NAMES, SwitchBoard, SwitchState, parameter_name


class SwitchReader:
    def __init__(self, path: str, cache_seconds: int) -> None:
        self.path = path
        self.cache_seconds = cache_seconds
        self._provider: SSMProvider | None = None

    def read(self, fresh: bool = False) -> SwitchBoard:
        if self._provider is None:
            self._provider = SSMProvider(boto3_client=client("ssm"))
        values = self._provider.get_multiple(self.path, max_age=self.cache_seconds, recursive=False, force_fetch=fresh)
        known = {
            name: SwitchState.from_document(name, str(raw)) for name, raw in values.items() if name in SWITCH_NAMES
        }
        return SwitchBoard(states=known)


def store(path: str, state: SwitchState) -> None:
    client("ssm").put_parameter(
        Name=parameter_name(path, state.name),
        Value=json.dumps(state.document(), sort_keys=True),
        Type="String",
        Overwrite=True,
    )
