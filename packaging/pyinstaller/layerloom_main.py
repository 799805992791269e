"""The packaged app's entry point: `layerloom` with no arguments opens the window, with arguments it is the
command line (`layerloom doctor --check`, `layerloom train …`).

File managers and installers open a file with the file as the only argument (Windows "Open with",
`Layerloom.exe "%1"`); a project file or bundle (by content, or by name) is read as `layerloom open FILE`.
The desktop entry's `layerloom open %f` started from the menu, without a file, opens the window as
`layerloom` does.
"""

import multiprocessing
import os
import sys


def main() -> int:
    multiprocessing.freeze_support()
    # macOS Finder (older versions) passes a process serial number; it is no command.
    args = [a for a in sys.argv[1:] if not a.startswith("-psn_")]
    if len(args) == 1 and os.path.isfile(args[0]):
        from layerloom.core.opening import recognised

        if recognised(args[0]):
            args = ["open", args[0]]
    if args == ["open"]:
        args = []
    sys.argv[1:] = args
    from layerloom.app.cli import main as cli_main

    return cli_main()


if __name__ == "__main__":
    sys.exit(main())
