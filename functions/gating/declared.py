"""The names the gating stack (stacks/gating.py) and the gating functions share, declared once for both."""

LOCK_PREFIX = "watchdog-lock/"  # the only partition the stack lets the watchdog claim (put) and give back (delete) in
