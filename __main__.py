"""`python -m layerloom …`: the `layerloom` command (app/cli.py), as the console script runs it."""

import sys

from layerloom.app.cli import main

sys.exit(main())
