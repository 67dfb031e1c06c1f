"""The `creditlens` command: explain, models, accuracy, train, train-backbone, evaluate, app.

User errors (bad files, unknown models or classes, empty text, ...) end with exit status 2 and one line on
stderr that says what was wrong; no traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from . import commands_app, commands_data, commands_evaluate, commands_explain, commands_train

# What a user can cause: their message is all they need. (ImageError is a ValueError; a missing optional
# package says what to install.)
USER_ERRORS = (ValueError, FileNotFoundError, ModuleNotFoundError)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="creditlens",
        description="Explain classifier predictions with the credit assignments of Heinsen routing.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (commands_explain, commands_data, commands_train, commands_evaluate, commands_app):
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 on success, 2 on a user error)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    # Model loading bars from Hugging Face libraries are noise on a command line (set before they import).
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    parser = build_parser()
    args = parser.parse_args(argv)
    args.command_line = "creditlens " + " ".join(argv)
    try:
        return int(args.run(args) or 0)
    except USER_ERRORS as err:
        message = err.args[0] if err.args else str(err)
        print(f"creditlens {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("creditlens: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
