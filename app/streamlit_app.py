"""creditlens in the browser: pick a zoo model and an input, see the prediction and the credit of any class.

Run it with `creditlens app` (or `make app`). This file draws the title at once and then the page (`page`):
on a fresh server, importing torch and the models takes seconds, and the title shows meanwhile.
"""

import streamlit as st

st.set_page_config(page_title="creditlens: routing credit explorer", layout="wide")
st.title("creditlens")
st.caption(
    "What each patch or token contributed to a class score, split exactly through the model's Heinsen "
    "routing head with its credit assignments (phi) held at their forward values."
)

from creditlens.app import page  # noqa: E402 - after the title, which must not wait for torch

page.main()
