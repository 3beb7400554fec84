"""Gap fillers over moto: the one package of the project that imports moto internals, one module per service.

moto serves most of AWS; `app.SandboxApp` answers what it lacks or stubs through a dispatch table
`(service, operation) -> handler` (each call read once with botocore's models) and hands everything else to moto,
after the IAM enforcement of `sandbox.iam`. Where moto's CloudFormation skips a resource type, a service module
adds its model.

- `app`            the WSGI application (`make_app()`, `make_server()`) and the dispatch table
- `codepipeline`   the pipeline runtime: executions, jobs, approvals, stop, rollback, their events
- `awslambda`      provisioned concurrency; dead-letter and EventInvokeConfig; permission statements
- `invoke`         Lambda Invoke: the deployed handler run in the server (`store.functions`, for any caller)
- `cloudwatch`     composite alarms, alarm mute rules, AWS::CloudWatch::Alarm; SetAlarmState's state change event
                   on the bus and its SNS actions
- `scheduler`      AWS::Scheduler::ScheduleGroup and AWS::Scheduler::Schedule
- `autoscaling`    DescribeInstanceRefreshes; Application Auto Scaling tags
- `sqs`, `sns`     queue and topic policies from CloudFormation
- `kms`, `ssm`     key policies and tags from CloudFormation; the Powertools layer and its public parameter
- `stepfunctions`  Step Functions executions run by moto's interpreter, their AWS calls as the state machine's
                   role, Retry waits on a time scale, Distributed Map results as AWS writes them (`store.states`)
- `bus`            EventBridge: PutEvents validated as AWS does, every event routed to its rules' targets (`store.bus`)
- `events`         EventBridge pattern matching; what a target receives (Input, InputPath, InputTransformer)
- `deliver`        a service's delivery to a queue or topic: authorized, counted, sent through moto
- `failures`       an AWS error on one call (`/_sandbox/failures`), DynamoDB's partial BatchWriteItem
- `control`        the `/_sandbox/...` routes
- `cloudformation`, `common`, `store`   what the modules share
"""
