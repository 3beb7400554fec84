#!/usr/bin/env bash
# Drive the sandbox with the AWS CLI alone, as you would drive your account: invoke a function, freeze deploys,
# run the web-app pipeline into the gate and through it, scale on an alarm, route a custom event.
#
# It starts its own sandbox (in .sandbox/aws-cli, beside any other) and stops it on the way out. Each command it
# runs is printed first (`+ aws ...`), and each step checks its outcome: the script fails at the first that differs.
# `make demo` runs it after the Python demo; by hand: `bash sandbox/tutorial/aws-cli.sh`.
set -euo pipefail

cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
export PATH="$PWD/.venv/bin:$PATH" # the pinned AWS CLI (requirements-dev.txt)
export DECKHAND_SANDBOX_DIR=${DECKHAND_SANDBOX_DIR:-$PWD/.sandbox/aws-cli}
WORK=$(mktemp -d)
WAIT_SECONDS=${WAIT_SECONDS:-120}
exec 3>&1 # the commands' echo goes to the terminal even when their output is captured

# --- the tutorial's own tools ------------------------------------------------------------------------------

show() { # print a command as a shell would take it back
    local line="+" arg
    for arg in "$@"; do
        if [[ $arg =~ ^[][A-Za-z0-9_./:=,@%+\$-]+$ ]]; then
            line+=" $arg"
        elif [[ $arg != *"'"* ]]; then
            line+=" '$arg'"
        elif [[ ! $arg =~ [\"\$\`\\] ]]; then
            line+=" \"$arg\""
        else
            line+=" '${arg//\'/\'\\\'\'}'"
        fi
    done
    printf '%s\n' "$line" >&3
}

run() { # print a command, then run it
    show "$@"
    "$@"
}

say() { printf '\n## %s\n' "$*" >&3; }

expect() { # expect WHAT EXPECTED ACTUAL
    if [[ $3 == "$2" ]]; then
        printf '   ok: %s: %s\n' "$1" "$3" >&3
    else
        printf '   FAILED: %s: expected %s, got %s\n' "$1" "$2" "$3" >&3
        exit 1
    fi
}

expect_in() { # expect_in WHAT NEEDLE TEXT
    if [[ $3 == *"$2"* ]]; then
        printf '   ok: %s\n' "$1" >&3
    else
        printf '   FAILED: %s: %q not in:\n%s\n' "$1" "$2" "$3" >&3
        exit 1
    fi
}

field() { # field KEY...: a value of the JSON on stdin (a string as is, anything else as JSON)
    "$PY" -c '
import json, sys
value = json.load(sys.stdin)
for key in sys.argv[1:]:
    value = value[int(key)] if isinstance(value, list) else value.get(key)
print(value if isinstance(value, str) else json.dumps(value))' "$@"
}

indent() { sed 's/^/   /' >&3; }

finish() {
    local status=$?
    run "$PY" -m sandbox down || true
    rm -rf "$WORK"
    exit "$status"
}
trap finish EXIT

# --- a sandbox, and the AWS CLI pointed at it ---------------------------------------------------------------

say "Start a sandbox: the real CDK CLI deploys Deckhand into it; then seed an estate (pipeline, alarms, services)"
run "$PY" -m sandbox up
run "$PY" -m sandbox seed
endpoint=$(field endpoint <"$DECKHAND_SANDBOX_DIR/state.json") # as `up` printed it
show export AWS_ENDPOINT_URL="$endpoint" AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
    AWS_DEFAULT_REGION=us-east-1
export AWS_ENDPOINT_URL="$endpoint" AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1
export AWS_DEFAULT_OUTPUT=json AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
unset AWS_PROFILE AWS_SESSION_TOKEN

live() { # live FUNCTION: its DECKHAND_DRY_RUN variable false (UpdateFunctionConfiguration), the rest as deployed
    run aws lambda get-function-configuration --function-name "$1" --query Environment >"$WORK/environment.json"
    "$PY" -c '
import json, sys
environment = json.load(open(sys.argv[1]))
environment["Variables"]["DECKHAND_DRY_RUN"] = "false"
print(json.dumps(environment))' "$WORK/environment.json" >"$WORK/environment-live.json"
    run aws lambda update-function-configuration --function-name "$1" \
        --environment "file://$WORK/environment-live.json" \
        --query Environment.Variables.DECKHAND_DRY_RUN --output text | indent
}

invoke() { # invoke FUNCTION PAYLOAD-FILE ANSWER-FILE: Lambda Invoke, RequestResponse; fails on a FunctionError
    local result
    result=$(run aws lambda invoke --function-name "$1" --payload "fileb://$2" "$3")
    indent <<<"$result"
    indent <"$3"
    echo >&3
    expect "$1 answered without a function error" null "$(field FunctionError <<<"$result")"
}

# --- Lambda Invoke ------------------------------------------------------------------------------------------

say "Invoke the switches function and read its answer"
printf '{"action": "show"}' >"$WORK/show.json"
invoke deckhand-switches "$WORK/show.json" "$WORK/shown.json"
expect "the switches answer" ok "$(field status <"$WORK/shown.json")"
expect "deploys are not frozen" false "$(field switches freeze on <"$WORK/shown.json")"

say "Freeze deploys through Lambda Invoke (events/switches/freeze.json: 8 h, for real)"
invoke deckhand-switches events/switches/freeze.json "$WORK/frozen.json"
expect "the freeze" changed "$(field status <"$WORK/frozen.json")"
invoke deckhand-switches "$WORK/show.json" "$WORK/shown.json"
expect "deploys are frozen" true "$(field switches freeze on <"$WORK/shown.json")"

# --- CodePipeline, gated -----------------------------------------------------------------------------------

say "Subscribe a queue to Deckhand's notifications topic, to read the notices"
# The AWS CLI v1 sends sqs commands in us-east-1 to https://queue.amazonaws.com whatever AWS_ENDPOINT_URL says
# (its overridesslcommonname customization; aws/aws-cli#8737): only --endpoint-url reaches the sandbox.
sqs() { run aws sqs --endpoint-url "$AWS_ENDPOINT_URL" "$@"; }
topic=arn:aws:sns:us-east-1:123456789012:deckhand-notifications
notices=$(sqs create-queue --queue-name tutorial-notices --query QueueUrl --output text)
notices_arn=$(sqs get-queue-attributes --queue-url "$notices" --attribute-names QueueArn \
    --query Attributes.QueueArn --output text)
allow_to_queue() { # allow_to_queue SERVICE SOURCE-ARN QUEUE-ARN: the queue policy AWS requires of a delivery
    "$PY" -c '
import json, sys
service, source, queue = sys.argv[1:]
statement = {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sqs:SendMessage", "Resource": queue,
             "Condition": {"ArnEquals": {"aws:SourceArn": source}}}
print(json.dumps({"Policy": json.dumps({"Version": "2012-10-17", "Statement": [statement]})}))' "$@"
}
allow_to_queue sns.amazonaws.com "$topic" "$notices_arn" >"$WORK/notices-policy.json"
indent <"$WORK/notices-policy.json"
sqs set-queue-attributes --queue-url "$notices" --attributes "file://$WORK/notices-policy.json"
run aws sns subscribe --topic-arn "$topic" --protocol sqs --notification-endpoint "$notices_arn" | indent

say "Declare the pipeline variable the gate's exemption reads (deckhand.yaml: gating.gates[0].exemption)"
# A fix-forward (deckhand_exempt=fix-forward) is waived the window, bake, alarm and error-budget checks, never the
# freeze: so this runs at any hour, on alarms that have no data yet, right after Build.
run aws codepipeline get-pipeline --name web-app --query pipeline >"$WORK/pipeline.json"
"$PY" -c '
import json, sys
pipeline = json.load(open(sys.argv[1]))
pipeline["variables"] = [{"name": "deckhand_exempt", "defaultValue": "no", "description": "fix-forward: waive checks"}]
print(json.dumps({"pipeline": pipeline}))' "$WORK/pipeline.json" >"$WORK/pipeline-update.json"
run aws codepipeline update-pipeline --cli-input-json "file://$WORK/pipeline-update.json" \
    --query 'pipeline.[name, version, variables[0].name]' --output text | indent

say "Take the approver live, as a cdk deploy of the policy with defaults.dry_run: false would"
# The example policy starts every function in dry run: the approver would only say that it would approve.
live deckhand-approver

start() { # start: a web-app execution, as a fix-forward
    run aws codepipeline start-pipeline-execution --name web-app --variables name=deckhand_exempt,value=fix-forward \
        --query pipelineExecutionId --output text
}

ended() { # ended EXECUTION-ID: its status once it is no longer in progress
    local status
    show aws codepipeline get-pipeline-execution --pipeline-name web-app --pipeline-execution-id "$1" \
        --query pipelineExecution.status --output text
    for ((second = 0; second < WAIT_SECONDS; second++)); do
        status=$(aws codepipeline get-pipeline-execution --pipeline-name web-app --pipeline-execution-id "$1" \
            --query pipelineExecution.status --output text)
        [[ $status == InProgress || $status == Stopping ]] || break
        sleep 1
    done
    echo "$status"
}

action() { # action STAGE: the latest execution of the stage's action (GetPipelineState)
    run aws codepipeline get-pipeline-state --name web-app \
        --query "stageStates[?stageName=='$1'] | [0].actionStates[0].latestExecution"
}

say "Start web-app while frozen: the gate refuses it"
first=$(start)
expect "the execution" Failed "$(ended "$first")"
gate=$(action Gate)
indent <<<"$gate"
expect "the gate action" Failed "$(field status <<<"$gate")"
expect_in "its message names the freeze" "freeze: frozen by your-name" "$(field errorDetails message <<<"$gate")"

say "The pipeline notice reaches the topic (the notices function, on the execution's FAILED event)"
notice=""
show aws sqs --endpoint-url "$AWS_ENDPOINT_URL" receive-message --queue-url "$notices" --wait-time-seconds 5 \
    --max-number-of-messages 10 "(until the notice is there)"
for ((tries = 0; tries < WAIT_SECONDS / 5; tries++)); do
    notice=$(aws sqs --endpoint-url "$AWS_ENDPOINT_URL" receive-message --queue-url "$notices" --wait-time-seconds 5 \
        --max-number-of-messages 10 |
        "$PY" -c '
import json, sys
bodies = [json.loads(m["Body"]) for m in json.loads(sys.stdin.read() or "{}").get("Messages", [])]
print(next((json.dumps(b) for b in bodies if "web-app FAILED" in b.get("Subject", "")), ""))')
    [[ -z $notice ]] || break
done
expect_in "a notice says web-app FAILED" "web-app FAILED" "$notice"
field Message <<<"$notice" | indent
expect_in "and why: the freeze" "freeze: frozen by your-name" "$(field Message <<<"$notice")"

say "Clear the freeze (events/switches/clear-freeze.json), start again: the gate passes, the approver approves"
invoke deckhand-switches events/switches/clear-freeze.json "$WORK/cleared.json"
expect "the freeze is cleared" changed "$(field status <"$WORK/cleared.json")"
second=$(start)
expect "the execution" Succeeded "$(ended "$second")"
gate=$(action Gate)
expect "the gate action" Succeeded "$(field status <<<"$gate")"
approval=$(action Approve)
indent <<<"$approval"
expect "the manual approval" Succeeded "$(field status <<<"$approval")"
expect_in "approved by Deckhand, naming its decision" "Approved by Deckhand: decision" "$(field summary <<<"$approval")"
expect "Deploy" Succeeded "$(field status <<<"$(action Deploy)")"

# --- CloudWatch alarm -> capacity ---------------------------------------------------------------------------

say "Set web-cpu-high to ALARM: the capacity function steps web's minimum out (deckhand.yaml: step 2)"
live deckhand-capacity
bounds() {
    aws application-autoscaling describe-scalable-targets --service-namespace ecs --resource-ids service/web-app/web \
        --query 'ScalableTargets[0].[MinCapacity, MaxCapacity]' --output text
}
show aws application-autoscaling describe-scalable-targets --service-namespace ecs \
    --resource-ids service/web-app/web --query 'ScalableTargets[0].[MinCapacity, MaxCapacity]' --output text
read -r low high <<<"$(bounds)"
printf '   before: min %s, max %s\n' "$low" "$high" >&3
run aws cloudwatch set-alarm-state --alarm-name web-cpu-high --state-value ALARM \
    --state-reason "Tutorial: CPU above 80 %"
show aws application-autoscaling describe-scalable-targets "..." "(until the bounds move)"
for ((second = 0; second < WAIT_SECONDS; second++)); do
    read -r min max <<<"$(bounds)"
    [[ $min == "$low" ]] || break
    sleep 1
done
expect "web's minimum" "$((low + 2))" "$min"
expect "web's maximum" "$((high > low + 2 ? high : low + 2))" "$max"

# --- EventBridge PutEvents ----------------------------------------------------------------------------------

say "Put a custom event on the default bus: a rule of yours routes it to a queue"
orders=$(sqs create-queue --queue-name tutorial-orders --query QueueUrl --output text)
orders_arn=$(sqs get-queue-attributes --queue-url "$orders" --attribute-names QueueArn \
    --query Attributes.QueueArn --output text)
rule=$(run aws events put-rule --name tutorial-orders \
    --event-pattern '{"source": ["tutorial.shop"], "detail-type": ["Order Placed"]}' --query RuleArn --output text)
allow_to_queue events.amazonaws.com "$rule" "$orders_arn" >"$WORK/orders-policy.json"
sqs set-queue-attributes --queue-url "$orders" --attributes "file://$WORK/orders-policy.json"
run aws events put-targets --rule tutorial-orders --targets "Id=orders,Arn=$orders_arn" | indent
put=$(run aws events put-events --entries \
    '[{"Source": "tutorial.shop", "DetailType": "Order Placed", "Detail": "{\"order\": \"1234\", \"total\": 42}"},
      {"Source": "tutorial.shop", "DetailType": "Order Placed"}]')
indent <<<"$put"
expect "entries EventBridge failed" 1 "$(field FailedEntryCount <<<"$put")"
expect "the entry without Detail" InvalidArgument "$(field Entries 1 ErrorCode <<<"$put")"
received=$(sqs receive-message --queue-url "$orders" --wait-time-seconds 10)
body=$(field Messages 0 Body <<<"$received")
indent <<<"$body"
expect "the queue got the event" "$(field Entries 0 EventId <<<"$put")" "$(field id <<<"$body")"
expect "with its detail" 1234 "$(field detail order <<<"$body")"

# --- IAM ----------------------------------------------------------------------------------------------------

say "Every call the functions made was authorized by their deployed roles, every delivery by its policies"
iam=$(run curl --silent --fail "$endpoint/_sandbox/iam")
printf '   iam: requests=%s denied=%s unmapped=%s deliveries=%s refused=%s\n' "$(field requests <<<"$iam")" \
    "$(field denied <<<"$iam")" "$(field unmapped <<<"$iam")" "$(field deliveries <<<"$iam")" \
    "$(field refused <<<"$iam")" >&3
expect "requests denied" 0 "$(field denied <<<"$iam")"
expect "requests unmapped" 0 "$(field unmapped <<<"$iam")"
expect "deliveries refused" 0 "$(field refused <<<"$iam")"

say "Done: the AWS CLI drove the sandbox as it drives AWS"
