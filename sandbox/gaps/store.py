"""Everything the gap fillers remember, one server's worth, behind one lock (the server is threaded)."""

from __future__ import annotations

import threading
from functools import partial

from sandbox.gaps import deliver
from sandbox.gaps.awslambda import ProvisionedConfigs
from sandbox.gaps.bus import Bus
from sandbox.gaps.cloudwatch import MuteRules
from sandbox.gaps.codepipeline import PipelineRunner, Pipelines
from sandbox.gaps.common import JSON
from sandbox.gaps.failures import Failures
from sandbox.gaps.invoke import Functions
from sandbox.gaps.stepfunctions import StateMachines
from sandbox.iam import deliveries
from sandbox.iam.simulator import Simulator


class Store:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.pipelines = Pipelines()
        self.provisioned: ProvisionedConfigs = {}
        self.mute_rules: MuteRules = {}
        self.failures = Failures()
        self.estates: dict[tuple[str, str], JSON] = {}  # what `sandbox.estate.seed` created, by account and region
        self.simulator = Simulator()  # its Node process starts on the first evaluation
        self.deliveries = deliveries.Ledger()
        self.functions = Functions(self.deliveries, self.simulator, self.lock)  # Lambda's runtime, for any caller
        # Step Functions: the AWS calls of executions, as their state machine's role; their Retry waits.
        self.states = StateMachines(self.functions, self.deliveries, self.simulator, self.lock)
        self.bus = Bus(self.deliveries, self.simulator, self.functions.invoke)  # EventBridge: PutEvents, services' sink
        # Executions that run by themselves: CodePipeline invokes Lambda actions and puts its events on the bus.
        self.pipeline_runner = PipelineRunner(
            self.lock,
            self.pipelines,
            invoke=self.functions.invoke,
            publish=lambda event: self.bus.put(account=event["account"], region=event["region"], event=event),
            authorize=partial(deliver.authorized, self.deliveries, self.simulator),
        )
        self.pipeline_runner.start()
