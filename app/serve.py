"""The app's server process: Streamlit serving `streamlit_app.py`, with the bundled models loaded and their
first samples explained in the background from the moment it starts, so the first visitor does not wait.

`creditlens app` runs `python -m creditlens.app.serve <streamlit options>` (see `commands_app.app_command`).
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

APP_FILE = Path(__file__).with_name("streamlit_app.py")


def main() -> None:
    """Start the warm-up thread, then run Streamlit's `streamlit run APP_FILE` with this process's arguments."""
    threading.Thread(target=_warm, name="creditlens-warm-up", daemon=True).start()
    from streamlit.web import cli

    sys.argv = ["streamlit", "run", str(APP_FILE), *sys.argv[1:]]
    sys.exit(cli.main())


def _warm() -> None:
    # Imported here, in the thread: importing torch and the models is most of what a first visit would wait for.
    from creditlens.app import session

    session.warm()


if __name__ == "__main__":
    main()
