"""The application floor: what starts both halves of Layerloom (installed as `layerloom.app`).

    layerloom …                   # app/cli.py: main(), the console entry point
    python -m layerloom …         # the same (also python -m layerloom.app …)

From the ground up: `layerloom.core` (Qt-free) → `layerloom.gui` (the window over core) → this package,
which wires the command line (core's subcommands, `open` for the window) and holds the doctor, whose checks
start the window in a child process. Nothing in core or gui imports it (tests/app/test_floors.py checks).
"""
