"""The sandbox: the real Deckhand app deployed into an embedded AWS (moto) and rehearsed end to end.

How the pieces fit (each module is owned by one file; keep to these interfaces):

- `gaps/`       the ONLY package that imports moto internals, one module per service. `app.make_app()`
                returns moto's WSGI app wrapped with the IAM enforcer and the gap fillers, dispatched by
                `(service, operation)` (CodePipeline jobs/approvals/executions, Lambda provisioned
                concurrency, ...) and `control`'s `/_sandbox/...` routes; `ssm.seed_powertools(...)`
                writes the reserved public parameter and layer in the server process;
                `bus` is EventBridge in the server (PutEvents, and the sink the services it plays put
                their events into: every event routed to its rules' targets, one owner);
                `cloudwatch` puts SetAlarmState's state change on the bus and runs its SNS actions;
                `invoke` is Lambda Invoke (any client's, the bus's targets, CodePipeline's actions): the
                deployed handler run in the server by `runner`; `codepipeline` runs executions by themselves.
- `server.py`   `python -m sandbox.server --port N [--log FILE]`: serves `gaps.app.make_app()` on
                localhost in its own process until `down`.
- `runner.py`   loads a *deployed* function (handler, environment, code from its deployed asset
                zip) and runs its handler in-process against the sandbox: in the server for Lambda
                Invoke (`gaps.invoke`), in the CLI's process for `sandbox invoke` and `tick`.
- `router.py`   the deployed rules' schedules, for `tick` (the server's bus routes every other event).
- `schedules.py` which rate/cron/at schedules (with IANA time zones) are due in a time window.
- `estate.py`   seeds a realistic estate (pipelines, alarms, scalable targets, snapshots, ...).
- `process.py`  the server's process and state file; `cdk.py` the CDK runs that deploy the app into it (`up`).
- `clients.py`  boto3 clients of the sandbox; `deployed.py` the deployed functions, `emit` and `tick`.
- `status.py`   what a running sandbox holds; `output.py` what the commands print.
- `demo.py`     the demo framework: `Demo`, `Step`, `run_demo`; scenarios import it, never the CLI.
- `cli.py`      the thin CLI (argparse and the subcommands): up, seed, invoke, emit, tick, status, authorize,
                pipeline, down, demo.
- `scenarios.py` what `demo` rehearses, one scenario per duty, every step checked.
- `organization.py` the organization in moto (the hub as management account, units, 21 members) and the example
                organization policy rendered with moto's ids; `organization_scenarios.py` what `demo --organization`
                rehearses on a sandbox of its own (`.sandbox/organization`).

State lives in `.sandbox/` at the repository root (ignored by git): `state.json` holds
{"endpoint", "port", "pid", "account", "region", "started_at", "last_tick"}; logs, the cloud
assembly, extracted assets and the demo report (`out/demo-report.md`) sit beside it.
"""

ACCOUNT = "123456789012"
REGION = "us-east-1"
