"""`creditlens app`: serve the Streamlit app (`streamlit_app.py`) that browses the credit of zoo models."""

from __future__ import annotations

import argparse
import importlib.util
import signal
import subprocess
import sys

from .cli import add_command


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `app` subcommand."""
    p = add_command(sub, "app")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8501, help="port to listen on (default: 8501)")
    p.set_defaults(run=run_app)


def app_command(host: str, port: int) -> list[str]:
    """The command line that serves the app with this Python's Streamlit (through `serve`, which loads the
    bundled models in the background as the server starts)."""
    return [
        sys.executable, "-m", "creditlens.app.serve",
        "--server.address", host,
        "--server.port", str(port),
        "--server.headless", "true",
        # No watching of source files for changes: on every run Streamlit would walk every loaded module
        # (all of torch's), about a second of server time per page view.
        "--server.fileWatcherType", "none",
        # No full garbage collection after every run: with torch loaded it costs over 0.1 s of server time
        # per click, and Python's own collector still runs as usual.
        "--runner.postScriptGC", "false",
        # A page for people reading explanations: no Deploy button or developer menu.
        "--client.toolbarMode", "viewer",
        "--browser.gatherUsageStats", "false",
    ]  # fmt: skip


def run_app(args: argparse.Namespace) -> int:
    """Run Streamlit until it exits and return its exit status; SIGINT and SIGTERM are passed on to it, so
    stopping `creditlens app` (Ctrl+C, `kill`) stops the server too.

    Raises:
        ValueError: a port outside 1..65535, or Streamlit not installed (the message says how to get it).
    """
    if not 0 < args.port < 65536:
        raise ValueError(f"--port must be in 1..65535, got {args.port}.")
    if importlib.util.find_spec("streamlit") is None:
        raise ValueError("the app needs Streamlit: pip install 'creditlens[app]'.")
    print(
        f"creditlens app: starting on http://{args.host}:{args.port}, ready in a few seconds (Ctrl+C to stop)",
        file=sys.stderr,
    )
    process = subprocess.Popen(app_command(args.host, args.port))

    def forward(signum: int, frame: object) -> None:
        process.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return process.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
