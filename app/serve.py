"""The app's server process: Streamlit serving `streamlit_app.py`, ready before it answers.

Importing torch, timm, transformers and matplotlib, loading the bundled models and explaining their first
samples take seconds; done before the server starts (into the caches the page reads), no visitor waits for
them: Streamlit prints the app's URL once they are done, and the first visit is as fast as any later one.

`creditlens app` runs `python -m creditlens.app.serve <streamlit options>` (see `commands_app.app_command`).
"""

from __future__ import annotations

import sys
from pathlib import Path

APP_FILE = Path(__file__).with_name("streamlit_app.py")


def main() -> None:
    """Import the page and warm the caches, then run `streamlit run APP_FILE` with this process's arguments."""
    from creditlens.app import page, session  # noqa: F401 - imported for the first visit, which then need not

    session.warm()
    from streamlit.web import cli

    sys.argv = ["streamlit", "run", str(APP_FILE), *sys.argv[1:]]
    sys.exit(cli.main())


if __name__ == "__main__":
    main()
