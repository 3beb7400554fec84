"""`python -m sandbox <command>`: see sandbox/cli.py."""

from .cli import main

raise SystemExit(main())
