"""creditlens.viz (see README: in progress)."""

__all__: list[str] = []
