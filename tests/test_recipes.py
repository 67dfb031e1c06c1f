"""Recipes of end-to-end credit: the paper's chain, residual blocks, parallel branches and group sums."""

from __future__ import annotations

import pytest
import torch

from creditlens.attribution import (
    group_sum,
    parallel_concat,
    parallel_sum,
    residual,
    sequential,
    sequential_for_classes,
    split_depths,
    sum_over_depths,
    sum_over_positions,
)

from conftest import REFERENCE, max_rel_err

f64 = torch.float64


def _unit(x: torch.Tensor) -> torch.Tensor:
    """Each sample's matrix divided by its own standard deviation (no eps)."""
    return x / x.std(dim=(-2, -1), keepdim=True)


def _positive_factor(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Assert `a == c * b` with one positive `c` per sample; return `c [..., 1, 1]`."""
    c = (a * b).sum(dim=(-2, -1), keepdim=True) / (b * b).sum(dim=(-2, -1), keepdim=True)
    assert bool((c > 0).all())
    assert max_rel_err(a, c * b) < 1e-12
    return c


def _chain(batch: tuple[int, ...], sizes: list[int]) -> list[torch.Tensor]:
    return [torch.randn(*batch, n, m, dtype=f64) for n, m in zip(sizes, sizes[1:])]


def _paper_toy() -> tuple[list[torch.Tensor], torch.Tensor]:
    stored = torch.load(REFERENCE / "paper_head_toy.pt", weights_only=True)
    return [stored[f"out.phi{k}"] for k in range(3)], stored["out.end_to_end"]


# The paper's chain.


def test_sequential_matches_paper_end_to_end() -> None:
    phis, expected = _paper_toy()
    actual = sequential(phis, per_sample=False)
    assert actual.shape == expected.shape
    assert max_rel_err(actual, expected) < 1e-9
    # The first phi is scaled too (leaving it unscaled is ~3e-10 off): hold the exact convention.
    assert max_rel_err(actual, expected) < 1e-12


def test_sequential_per_sample_equals_paper_mode_for_one_sample() -> None:
    phis, expected = _paper_toy()
    assert max_rel_err(sequential(phis), expected) < 1e-12


def test_sequential_scales_first_phi_and_every_step() -> None:
    a, b = _chain((), [5, 4, 3])
    eps = 1e-5
    first = a / (a.std() + eps)
    assert torch.equal(sequential([a], eps=eps), first)
    prod = first @ b
    assert max_rel_err(sequential([a, b], eps=eps), prod / (prod.std() + eps)) < 1e-15


def test_sequential_per_sample_does_not_depend_on_the_batch() -> None:
    phis = _chain((3,), [7, 5, 4, 3])
    phis[0] = phis[0] * torch.tensor([1.0, 30.0, 0.01], dtype=f64).view(3, 1, 1)  # very different scales
    batched = sequential(phis)
    for b in range(3):
        alone = sequential([phi[b] for phi in phis])
        assert max_rel_err(batched[b], alone) < 1e-12
        assert abs(float(batched[b].std()) - 1.0) < 1e-3
    whole = sequential(phis, per_sample=False)
    assert max_rel_err(whole[0], sequential([phi[0] for phi in phis])) > 1e-3


def test_sequential_ignores_the_scale_of_each_phi() -> None:
    phis = _chain((2,), [6, 4, 5])
    scaled = [phis[0] * 1e3, phis[1] * 1e-2]
    assert max_rel_err(sequential(scaled, eps=0.0), sequential(phis, eps=0.0)) < 1e-12


def test_sequential_equals_plain_product_up_to_a_positive_factor() -> None:
    phis = _chain((2,), [6, 4, 4, 3])
    _positive_factor(sequential(phis), phis[0] @ phis[1] @ phis[2])


def test_sequential_broadcasts_batch_dimensions() -> None:
    a = torch.randn(2, 5, 4, dtype=f64)
    b = torch.randn(4, 3, dtype=f64)
    out = sequential([a, b])
    assert out.shape == (2, 5, 3)
    assert max_rel_err(out[1], sequential([a[1], b])) < 1e-12


def test_sequential_leaves_its_arguments_alone_and_passes_gradients() -> None:
    phis = [p.requires_grad_() for p in _chain((2,), [4, 3, 3])]
    copies = [p.detach().clone() for p in phis]
    assert torch.autograd.gradcheck(lambda a, b: sequential([a, b]), tuple(phis))
    for phi, copy in zip(phis, copies):
        assert torch.equal(phi.detach(), copy)


def test_other_recipes_pass_gradients() -> None:
    a, b = (torch.randn(2, 4, 4, dtype=f64, requires_grad=True) for _ in range(2))
    assert torch.autograd.gradcheck(lambda p: residual(p, alpha=0.7), (a,))
    assert torch.autograd.gradcheck(lambda p, q: parallel_sum([p, q]), (a, b))
    assert torch.autograd.gradcheck(lambda p, q: parallel_concat([p, q]), (a, b))
    assert torch.autograd.gradcheck(lambda p, q: sequential_for_classes([p, q], [2, 0]), (a, b))


def test_sequential_rejects_bad_chains() -> None:
    a, b = torch.randn(5, 4), torch.randn(3, 2)
    with pytest.raises(ValueError, match=r"\(5, 4\).*\(3, 2\).*do not chain"):
        sequential([a, b])
    with pytest.raises(ValueError, match="empty"):
        sequential([])
    with pytest.raises(TypeError, match="single tensor"):
        sequential(a)
    with pytest.raises(ValueError, match=r"\[\.\.\., n_inp, n_out\]"):
        sequential([torch.randn(5)])
    with pytest.raises(ValueError, match="two entries"):
        sequential([torch.randn(2, 1, 1)])
    with pytest.raises(ValueError, match="do not broadcast"):
        sequential([torch.randn(2, 5, 4), torch.randn(3, 4, 2)])


# Selected classes, right to left.


@pytest.mark.parametrize("per_sample", [True, False])
def test_sequential_for_classes_is_the_full_chain_up_to_a_positive_factor(per_sample: bool) -> None:
    phis = _chain((3,), [9, 5, 4, 6])
    classes = [4, 1, -1]
    full = sequential(phis, per_sample=per_sample)[..., [4, 1, 5]]
    picked = sequential_for_classes(phis, classes, per_sample=per_sample)
    assert picked.shape == (3, 9, 3)
    factor = _positive_factor(picked, full)
    if not per_sample:
        assert max_rel_err(factor, factor.flatten()[0].expand_as(factor)) < 1e-12
    assert max_rel_err(_unit(picked), _unit(full)) < 1e-12
    cosine = torch.nn.functional.cosine_similarity(picked.flatten(1), full.flatten(1), dim=1)
    assert bool((cosine > 1 - 1e-12).all())


def test_sequential_for_classes_on_the_paper_case() -> None:
    phis, expected = _paper_toy()
    for cls in range(expected.shape[-1]):
        picked = sequential_for_classes(phis, cls, per_sample=False)
        assert picked.shape == (1, 18, 1)
        assert max_rel_err(_unit(picked), _unit(expected[..., cls : cls + 1])) < 1e-9
    all_classes = sequential_for_classes(phis, torch.arange(5))
    assert max_rel_err(_unit(all_classes), _unit(expected)) < 1e-9


def test_sequential_for_classes_rejects_bad_classes() -> None:
    phis = _chain((), [5, 4, 3])
    with pytest.raises(ValueError, match="out of range"):
        sequential_for_classes(phis, [3])
    with pytest.raises(ValueError, match="at least one class"):
        sequential_for_classes(phis, [])


# Residual blocks.


def test_residual_of_zero_branch_is_the_scaled_identity() -> None:
    n, eps = 6, 1e-5
    eye = torch.eye(n, dtype=f64)
    expected = eye / (eye.std() + eps)
    assert max_rel_err(residual(torch.zeros(n, n, dtype=f64), eps=eps), expected) < 1e-15
    assert max_rel_err(residual(torch.zeros(3, n, n, dtype=f64), eps=eps), expected.expand(3, n, n)) < 1e-15
    assert max_rel_err(residual(torch.randn(n, n, dtype=f64), alpha=0.0, eps=eps), expected) < 1e-15
    off = ~torch.eye(n, dtype=torch.bool)
    assert not residual(torch.zeros(3, n, n, dtype=f64))[:, off].any()


def test_residual_of_zero_branch_leaves_a_chain_unchanged() -> None:
    a = torch.randn(2, 7, 5, dtype=f64)
    with_block = sequential([a, residual(torch.zeros(2, 5, 5, dtype=f64))])
    assert max_rel_err(_unit(with_block), _unit(sequential([a]))) < 1e-12


def test_residual_ignores_the_scale_of_each_branch_column() -> None:
    phi = torch.randn(2, 5, 5, dtype=f64)
    per_output = torch.rand(2, 1, 5, dtype=f64) * 100 + 0.01
    assert max_rel_err(residual(phi * per_output), residual(phi)) < 1e-12


def test_residual_off_diagonal_keeps_sign_and_ranking_of_branch() -> None:
    n = 8
    phi = torch.randn(4, n, n, dtype=f64)
    out = residual(phi)
    off = ~torch.eye(n, dtype=torch.bool)
    assert torch.equal(out[:, off].sign(), phi[:, off].sign())
    for j in range(n):
        rows = [i for i in range(n) if i != j]
        assert torch.equal(out[:, rows, j].argsort(dim=-1), phi[:, rows, j].argsort(dim=-1))


@pytest.mark.parametrize("alpha", [0.5, 1.0, 3.0])
def test_residual_skip_holds_one_over_one_plus_alpha_of_each_output(alpha: float) -> None:
    n = 6
    phi = torch.randn(3, n, n, dtype=f64)
    phi.diagonal(dim1=-2, dim2=-1).zero_()  # the branch gives an output nothing of its own input
    out = residual(phi, alpha=alpha)
    diag = out.diagonal(dim1=-2, dim2=-1)  # [...j]
    branch_abs = out.abs().sum(dim=-2) - diag.abs()  # [...j]
    assert max_rel_err(diag / (diag + branch_abs), torch.full_like(diag, 1 / (1 + alpha))) < 1e-12


def test_residual_is_identity_plus_column_normalised_branch() -> None:
    n = 5
    phi = torch.randn(2, n, n, dtype=f64)
    # The documented formula, up to the final positive scaling: I + alpha * phi / (column abs sums of phi).
    branch = phi / phi.abs().sum(dim=-2, keepdim=True)
    _positive_factor(residual(phi), torch.eye(n, dtype=f64) + branch)
    _positive_factor(residual(phi, alpha=2.5), torch.eye(n, dtype=f64) + 2.5 * branch)


def test_residual_per_output_alpha() -> None:
    n = 5
    phi = torch.randn(2, n, n, dtype=f64)
    phi.diagonal(dim1=-2, dim2=-1).zero_()
    assert (
        max_rel_err(residual(phi, alpha=torch.full((n,), 2.0, dtype=f64)), residual(phi, alpha=2.0)) < 1e-15
    )
    alpha = torch.tensor([0.5, 1.0, 2.0, 4.0, 8.0], dtype=f64)
    out = residual(phi, alpha=alpha)
    diag = out.diagonal(dim1=-2, dim2=-1)
    share = diag / (out.abs().sum(dim=-2))
    assert max_rel_err(share, (1 / (1 + alpha)).expand_as(share)) < 1e-12


@pytest.mark.parametrize("alpha", [0.25, 1.0])
def test_residual_own_input_ranks_first_when_alpha_is_at_most_one(alpha: float) -> None:
    n = 9
    phi = torch.randn(20, n, n, dtype=f64)
    own = torch.arange(n).expand(20, n)
    assert torch.equal(residual(phi, alpha=alpha).argmax(dim=-2), own)
    assert not torch.equal(residual(phi, alpha=5.0).argmax(dim=-2), own)  # a heavy branch can outrank it


def test_residual_raising_branch_credit_never_lowers_rank() -> None:
    n = 6
    for _ in range(50):
        phi = torch.randn(n, n, dtype=f64)
        i, j = torch.randint(n, (2,)).tolist()
        raised = phi.clone()
        raised[i, j] += torch.rand(()).item() * 3
        rank_before = int((residual(phi)[:, j] > residual(phi)[i, j]).sum())
        rank_after = int((residual(raised)[:, j] > residual(raised)[i, j]).sum())
        assert rank_after <= rank_before


def test_residual_chains_associatively_up_to_a_positive_factor() -> None:
    head = torch.randn(2, 9, 6, dtype=f64)
    a, b, c = (residual(torch.randn(2, 6, 6, dtype=f64)) for _ in range(3))
    flat = sequential([head, a, b, c])
    left = sequential([sequential([head, a, b]), c])
    right = sequential([head, sequential([a, sequential([b, c])])])
    _positive_factor(left, flat)
    _positive_factor(right, flat)
    assert max_rel_err(_unit(left), _unit(right)) < 1e-12


def test_residual_per_sample_does_not_depend_on_the_batch() -> None:
    phi = torch.randn(3, 5, 5, dtype=f64) * torch.tensor([1.0, 1e3, 1e-3], dtype=f64).view(3, 1, 1)
    out = residual(phi)
    for b in range(3):
        assert max_rel_err(out[b], residual(phi[b])) < 1e-12


def test_residual_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match=r"as many outputs as inputs.*\(4, 3\)"):
        residual(torch.randn(4, 3))
    with pytest.raises(ValueError, match="non-negative"):
        residual(torch.randn(4, 4), alpha=-1.0)
    with pytest.raises(ValueError, match="alpha must be"):
        residual(torch.randn(4, 4), alpha=torch.ones(3))


# Parallel branches.


def test_parallel_concat_scales_each_branch_then_the_whole() -> None:
    a = torch.randn(2, 6, 3, dtype=f64)
    b = torch.randn(2, 6, 4, dtype=f64) * 1e4
    out = parallel_concat([a, b], eps=0.0)
    assert out.shape == (2, 6, 7)
    parts = torch.cat([_unit(a), _unit(b)], dim=-1)
    _positive_factor(out, parts)
    assert max_rel_err(parallel_concat([a * 7, b], eps=0.0), out) < 1e-12


def test_parallel_sum_is_symmetric_and_scale_free() -> None:
    a = torch.randn(2, 6, 4, dtype=f64)
    b = torch.randn(2, 6, 4, dtype=f64)
    out = parallel_sum([a, b], eps=0.0)
    assert max_rel_err(parallel_sum([b, a], eps=0.0), out) < 1e-12
    assert max_rel_err(parallel_sum([a * 1e-3, b * 50], eps=0.0), out) < 1e-12
    _positive_factor(out, _unit(a) + _unit(b))
    _positive_factor(parallel_sum([a, a * 3]), a)


def test_parallel_recipes_per_sample_do_not_depend_on_the_batch() -> None:
    a = torch.randn(3, 5, 4, dtype=f64) * torch.tensor([1.0, 1e3, 1e-3], dtype=f64).view(3, 1, 1)
    b = torch.randn(3, 5, 4, dtype=f64)
    for recipe in (parallel_sum, parallel_concat):
        out = recipe([a, b])
        for k in range(3):
            assert max_rel_err(out[k], recipe([a[k], b[k]])) < 1e-12


def test_parallel_recipes_reject_mismatched_branches() -> None:
    with pytest.raises(ValueError, match="same n_inp"):
        parallel_concat([torch.randn(5, 3), torch.randn(4, 3)])
    with pytest.raises(ValueError, match="same n_out"):
        parallel_sum([torch.randn(5, 3), torch.randn(5, 4)])


# Group sums.


def test_group_sum_by_ids_equals_the_sum_of_members() -> None:
    credit = torch.randn(2, 10, 3, dtype=f64)
    ids = torch.tensor([0, 2, 2, -1, 1, 0, 0, -1, 4, 1])
    out = group_sum(credit, ids, n_groups=6)
    assert out.shape == (2, 6, 3)
    for g in range(6):
        members = [i for i in range(10) if int(ids[i]) == g]
        expected = sum((credit[:, i] for i in members), torch.zeros(2, 3, dtype=f64))
        assert torch.allclose(out[:, g], expected, rtol=0, atol=1e-14)
    assert torch.equal(out[:, 3], torch.zeros(2, 3, dtype=f64))
    assert group_sum(credit, ids).shape == (2, 5, 3)


def test_group_sum_by_index_lists_allows_overlap_and_empty_groups() -> None:
    credit = torch.randn(4, 7, dtype=f64)
    groups = [[0, 1], [1, 2, 3], [], [6]]
    out = group_sum(credit, groups, dim=-1)
    assert out.shape == (4, 4)
    for g, members in enumerate(groups):
        expected = sum((credit[:, i] for i in members), torch.zeros(4, dtype=f64))
        assert torch.allclose(out[:, g], expected, rtol=0, atol=1e-14)


def test_group_sum_of_a_partition_keeps_the_total() -> None:
    credit = torch.randn(3, 12, 5, dtype=f64)
    ids = torch.randint(4, (12,))
    out = group_sum(credit, ids, n_groups=4)
    assert torch.allclose(out.sum(dim=-2), credit.sum(dim=-2), rtol=0, atol=1e-12)


def test_group_sum_rejects_bad_groups() -> None:
    credit = torch.randn(5, 3)
    with pytest.raises(ValueError, match=r"integer tensor \[5\]"):
        group_sum(credit, torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="outside"):
        group_sum(credit, [[0, 5]])
    with pytest.raises(ValueError, match="n_groups=2"):
        group_sum(credit, torch.tensor([0, 1, 2, 0, 0]), n_groups=2)
    with pytest.raises(ValueError, match="out of range"):
        group_sum(credit, [[0]], dim=2)


def test_group_sum_passes_gradients() -> None:
    credit = torch.randn(6, 2, dtype=f64, requires_grad=True)
    ids = torch.tensor([1, 0, -1, 1, 0, 1])
    assert torch.autograd.gradcheck(lambda c: group_sum(c, ids), (credit,))


def test_depth_helpers_read_rows_position_major() -> None:
    n_pos, d_depth = 4, 3
    rows = torch.arange(n_pos * d_depth, dtype=f64)
    credit = torch.stack([rows, -rows], dim=-1).expand(2, -1, -1)  # [2, n_pos * d_depth, 2]
    split = split_depths(credit, d_depth)
    assert split.shape == (2, n_pos, d_depth, 2)
    for pos in range(n_pos):
        for depth in range(d_depth):
            assert float(split[1, pos, depth, 0]) == pos * d_depth + depth
    by_pos = sum_over_depths(credit, d_depth)
    by_depth = sum_over_positions(credit, d_depth)
    assert torch.equal(by_pos, group_sum(credit, torch.arange(n_pos * d_depth) // d_depth))
    assert torch.equal(by_depth, group_sum(credit, torch.arange(n_pos * d_depth) % d_depth))
    assert float(by_depth[0, 1, 0]) == sum(pos * d_depth + 1 for pos in range(n_pos))


def test_depth_helpers_reject_rows_that_do_not_split() -> None:
    with pytest.raises(ValueError, match="d_depth=4"):
        sum_over_depths(torch.randn(2, 10, 3), d_depth=4)
    with pytest.raises(ValueError, match="positive"):
        split_depths(torch.randn(2, 10, 3), d_depth=0)
