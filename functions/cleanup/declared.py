"""The names the cleanup stack (stacks/cleanup.py) and the cleanup function share, declared once for both.

The deleter role's variable is here rather than in config.py because the kinds read it, and config.py imports the
policy, which imports the kinds.
"""

# The role every removal acts as (the stack's deleter role, which can write no mark); unset, the function's own.
DELETER_ROLE_VARIABLE = "DECKHAND_CLEANUP_DELETER_ROLE"

# The key prefixes of the duty's state items in the audit table, apart from its audit records.
MARKS_PARTITION = "cleanup-mark/"
RUNS_PARTITION = "cleanup-run/"
