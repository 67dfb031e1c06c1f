"""Colour scales: signed credit is centred at zero with symmetric limits; magnitude is on a log scale."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
import torch
from matplotlib.colors import LogNorm

from creditlens.viz import (
    credit_cmap,
    credit_colors,
    credit_norm,
    display_values,
    magnitude_norm,
    signed_norm,
)

pytestmark = pytest.mark.filterwarnings("error")


def test_signed_limits_are_symmetric_about_zero() -> None:
    norm = signed_norm(np.array([-0.5, 0.1, 2.0]))
    assert (norm.vmin, norm.vmax) == (-2.0, 2.0)
    norm = signed_norm(torch.tensor([-3.0, 1.0], requires_grad=True))
    assert (norm.vmin, norm.vmax) == (-3.0, 3.0)
    assert float(norm(0.0)) == pytest.approx(0.5)


def test_magnitude_is_a_log_norm_with_a_floor_and_zeros_clipped_to_it() -> None:
    norm = credit_norm([0.0, -4.0, 2e-9, 1.0], "magnitude")
    assert isinstance(norm, LogNorm)
    assert norm.vmax == 4.0 and norm.vmin == pytest.approx(4e-4)
    shown = display_values([0.0, -4.0, 2e-9, 1.0], norm)
    np.testing.assert_allclose(shown, [4e-4, 4.0, 4e-4, 1.0])
    colors = credit_colors([0.0, -4.0], norm, credit_cmap("magnitude"))
    np.testing.assert_allclose(colors, [credit_cmap("magnitude")(0.0), credit_cmap("magnitude")(1.0)])


@pytest.mark.parametrize("values", [np.zeros(5), np.full(5, 2.5), np.array([np.nan, np.inf, 0.0])])
def test_degenerate_maps_get_valid_limits(values: np.ndarray) -> None:
    signed = signed_norm(values)
    magnitude = magnitude_norm(values)
    assert signed.vmax > 0 and signed.vmin == -signed.vmax
    assert 0 < magnitude.vmin < magnitude.vmax
    assert np.isfinite(credit_colors(values[np.isfinite(values)], magnitude, credit_cmap("magnitude"))).all()


def test_default_colormaps_and_bad_mode() -> None:
    assert credit_cmap("signed").name == "RdBu_r"
    assert credit_cmap("magnitude").name == "viridis"
    assert credit_cmap("magnitude", "magma").name == "magma"
    assert credit_cmap("signed", matplotlib.colormaps["PuOr"]).name == "PuOr"
    with pytest.raises(ValueError, match="signed, magnitude"):
        credit_norm([1.0], "absolute")
