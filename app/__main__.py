"""`python -m layerloom.app …`: the `layerloom` command (app/cli.py)."""

import sys

from layerloom.app.cli import main

sys.exit(main())
