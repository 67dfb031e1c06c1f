"""The app's server process: Streamlit serving `streamlit_app.py`, ready before it answers.

Importing torch, timm, transformers and matplotlib takes seconds; done before the server starts, no visitor
waits for them, and the page's title and model picker show at once. The bundled models are then loaded and
their first samples explained in the background, into the caches the page reads.

`creditlens app` runs `python -m creditlens.app.serve <streamlit options>` (see `commands_app.app_command`).
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

APP_FILE = Path(__file__).with_name("streamlit_app.py")


def main() -> None:
    """Import the page, start the warm-up thread, then run `streamlit run APP_FILE` with this process's
    arguments."""
    from creditlens.app import page, session  # noqa: F401 - imported for the first visit, which then need not

    threading.Thread(target=session.warm, name="creditlens-warm-up", daemon=True).start()
    from streamlit.web import cli

    sys.argv = ["streamlit", "run", str(APP_FILE), *sys.argv[1:]]
    sys.exit(cli.main())


if __name__ == "__main__":
    main()
