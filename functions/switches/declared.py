"""The names the switches stack (stacks/switches.py) and the switches function share, declared once for both."""

DUTY = "switches"  # the audit trail this function writes
