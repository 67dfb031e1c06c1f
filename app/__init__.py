"""The `creditlens` command line and the Streamlit app (thin layers over `creditlens.attribution` and
`creditlens.viz`)."""

__all__: list[str] = []
