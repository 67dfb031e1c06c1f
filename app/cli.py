"""The `creditlens` command: explain, models, accuracy, train, train-backbone, evaluate, app.

User errors (bad files, unknown models or classes, empty text, ...) end with exit status 2 and one line on
stderr that says what was wrong; no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

# What a user can cause: their message is all they need. (ImageError is a ValueError; a missing optional
# package says what to install.)
USER_ERRORS = (ValueError, OSError, ModuleNotFoundError)

# Each subcommand: the module that defines its arguments and runs it, and its line in `creditlens --help`. A
# module is imported only for its own subcommands: most import torch, matplotlib or the models, which takes
# seconds, so `creditlens --help` and `creditlens app` do not wait for them.
COMMANDS: dict[str, tuple[str, str]] = {
    "explain": ("commands_explain", "explain images or a text and write figures and raw credit"),
    "models": ("commands_data", "list the model zoo with each model's status"),
    "accuracy": ("commands_data", "top-1 accuracy of a model on your labelled data"),
    "train": ("commands_train", "fit a routing head on a frozen backbone (Heinsen 2022's recipe)"),
    "train-backbone": (
        "commands_train", "train the small Fashion-MNIST ViT from scratch (or go on from --init)"
    ),
    "evaluate": (
        "commands_evaluate", "faithfulness of routing credit and baselines (deletion, insertion, MoRF/LeRF, ...)"
    ),
    "app": ("commands_app", "serve the browser app (Streamlit) on HOST:PORT"),
}  # fmt: skip


# Options renamed so that every subcommand spells an option the same way; an old spelling gets a one-line
# error that names the new one, rather than argparse's bare "unrecognized arguments".
RENAMED = {"--max-lr": "--lr"}


def add_command(sub: argparse._SubParsersAction, name: str) -> argparse.ArgumentParser:
    """The parser of subcommand `name` (one of `COMMANDS`), with its help line."""
    return sub.add_parser(name, help=COMMANDS[name][1])


def add_threads(parser: argparse.ArgumentParser) -> None:
    """`--threads N`, the same in every subcommand that computes: by default torch's own choice (one thread
    per CPU core), so a command uses the whole machine unless told otherwise."""
    parser.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (default: torch's, one per CPU core)"
    )


def set_threads(threads: int | None) -> None:
    """Apply `--threads` (None: leave torch's default)."""
    if threads is None:
        return
    if threads < 1:
        raise ValueError(f"--threads must be at least 1, got {threads}.")
    import torch  # here, not at the top: `creditlens --help` and `creditlens app` need no torch

    torch.set_num_threads(threads)


def add_paper_dir(parser: argparse.ArgumentParser) -> None:
    """`--paper-dir FOLDER`: where the paper's head files are (`paper_dir=` in Python)."""
    parser.add_argument(
        "--paper-dir",
        help="folder of the paper's head files (default: $CREDITLENS_PAPER_DIR, else ~/.cache/creditlens/paper)",
    )


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser: for a known `command`, with that subcommand's arguments (its module imported);
    otherwise with every subcommand's name and help line, for `--help` and usage errors."""
    parser = argparse.ArgumentParser(
        prog="creditlens",
        description="Explain classifier predictions with the credit assignments of Heinsen routing.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    if command in COMMANDS:
        importlib.import_module(f"{__package__}.{COMMANDS[command][0]}").register(sub)
    else:
        for name in COMMANDS:
            add_command(sub, name)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 on success, 2 on a user error)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    # Model loading bars from Hugging Face libraries are noise on a command line (set before they import).
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    parser = build_parser(next((a for a in argv if not a.startswith("-")), None))
    for arg in argv:
        old = arg.split("=", 1)[0]
        if old in RENAMED:
            parser.error(f"{old} is now {RENAMED[old]}")
    args = parser.parse_args(argv)
    args.command_line = "creditlens " + " ".join(argv)
    try:
        return int(args.run(args) or 0)
    except USER_ERRORS as err:
        print(f"creditlens {args.command}: error: {_message(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("creditlens: interrupted", file=sys.stderr)
        return 130


def _message(err: Exception) -> str:
    """One line for a user error: its message, or for a failed file operation the path and the reason."""
    if isinstance(err, OSError) and err.strerror:
        return f"{err.filename}: {err.strerror}" if err.filename else err.strerror
    return str(err.args[0]) if err.args else str(err)


if __name__ == "__main__":
    sys.exit(main())
