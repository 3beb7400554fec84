"""The names the cleanup stack (stacks/cleanup.py) and the cleanup function share, declared once for both.

The deleter role's variable is here rather than in config.py because the kinds read it, and config.py imports the
policy, which imports the kinds.
"""

# The role every removal acts as (the stack's deleter role, which can write no mark); unset, the function's own.
DELETER_ROLE_VARIABLE = "DECKHAND_CLEANUP_DELETER_ROLE"

# The key prefixes of the duty's state items in the audit table, apart from its audit records.
MARKS_PARTITION = "cleanup-mark/"
RUNS_PARTITION = "cleanup-run/"

# The organization fan-out (stacks/cleanup_fanout.py, functions/cleanup/fanout): what it keeps in the cleanup bucket,
# per run: runs/organization/<run_id>/items.json (the Map's items), .../results/ (the Map's ResultWriter), and the
# organization report under reports/organization/.
FANOUT_RUNS_PREFIX = "runs/organization/"
FANOUT_REPORTS_PREFIX = "reports/organization/"
# The error the scope step raises when AWS kept throttling a scope before it changed anything: the state machine
# retries it with backoff (a Lambda function's error name is its exception class's name).
THROTTLED_ERROR = "DeckhandThrottled"
