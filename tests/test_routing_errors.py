"""Bad input gives a ValueError that names the expected and the actual shape."""

from __future__ import annotations

import pytest
import torch

from creditlens.routing import EfficientVectorRouting, GenerativeMatrixRouting, RoutingHead


def test_wrong_d_inp_names_both_shapes() -> None:
    module = EfficientVectorRouting(n_inp=-1, n_out=3, d_inp=8, d_out=2)
    with pytest.raises(ValueError, match=r"d_inp=8.*\(2, 5, 7\)"):
        module(torch.randn(2, 5, 7))


def test_wrong_n_inp_for_fixed_module_names_both_shapes() -> None:
    module = EfficientVectorRouting(n_inp=6, n_out=3, d_inp=4, d_out=2)
    with pytest.raises(ValueError, match=r"n_inp=6.*\(5, 4\).*n_inp=-1"):
        module(torch.randn(5, 4))


def test_mask_of_wrong_shape_names_both_shapes() -> None:
    module = EfficientVectorRouting(n_inp=6, n_out=3, d_inp=4, d_out=2)
    with pytest.raises(ValueError, match=r"n_inp=6, n_out=3.*\(3, 6\)"):
        module(torch.randn(6, 4), mask=torch.zeros(3, 6, dtype=torch.bool))
    with pytest.raises(ValueError, match="bool"):
        module(torch.randn(6, 4), mask=torch.zeros(6, 3))


def test_pad_mask_of_wrong_shape_names_both_shapes() -> None:
    module = EfficientVectorRouting(n_inp=-1, n_out=3, d_inp=4, d_out=2)
    with pytest.raises(ValueError, match=r"n_inp=5.*\(2, 4\)"):
        module(torch.randn(2, 5, 4), pad_mask=torch.zeros(2, 4, dtype=torch.bool))


@pytest.mark.parametrize("n_out", [1, 0])
def test_fewer_than_two_outputs_is_rejected(n_out: int) -> None:
    with pytest.raises(ValueError, match=f"n_out must be at least 2.*got {n_out}"):
        EfficientVectorRouting(n_inp=4, n_out=n_out, d_inp=3, d_out=3)


def test_bad_n_inp_is_rejected() -> None:
    with pytest.raises(ValueError, match="n_inp must be"):
        EfficientVectorRouting(n_inp=0, n_out=3, d_inp=3, d_out=3)


def test_a_single_vector_without_sequence_dimension_is_rejected() -> None:
    module = EfficientVectorRouting(n_inp=-1, n_out=3, d_inp=4, d_out=2)
    with pytest.raises(ValueError, match=r"\[\.\.\., n_inp, d_inp\].*\(4,\)"):
        module(torch.randn(4))


def test_matrix_routing_checks_its_inputs() -> None:
    module = GenerativeMatrixRouting(n_inp=5, n_out=3, d_cov=2, d_inp=3, d_out=2)
    with pytest.raises(ValueError, match=r"d_cov=2, d_inp=3.*\(5, 3, 3\)"):
        module(torch.randn(5), torch.randn(5, 3, 3))
    with pytest.raises(ValueError, match=r"a_inp must have shape \(5,\).*\(4,\)"):
        module(torch.randn(4), torch.randn(5, 2, 3))
    with pytest.raises(ValueError, match="p_model"):
        GenerativeMatrixRouting(n_inp=5, n_out=3, d_cov=2, d_inp=3, d_out=2, p_model="vmf")


def test_head_names_expected_hidden_state_layout() -> None:
    head = RoutingHead(d_depth=3, d_emb=8, n_classes=4, n_hid=4)
    with pytest.raises(ValueError, match=r"d_depth=3, d_emb=8.*\(1, 6, 4, 8\)"):
        head(torch.randn(1, 6, 4, 8))
