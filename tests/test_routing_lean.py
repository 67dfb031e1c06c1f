"""The plain call's own ways to x_out and its gradients must give what autograd gives through Algorithm 1 as
written (`route()` with `fast_paths(False)`).

Most layers take the hand-written backward pass of routing/fast/_lean.py; layers with `d_out == 1` over few
inputs (`3 n_inp <= d_inp`) route through scalar votes instead of the M-step's sums, with the backward pass of
routing/fast/_scalar.py.
"""

from __future__ import annotations

import pytest
import torch

from creditlens.routing import EfficientVectorRouting, RoutingHead, fast_paths, set_chunk_elements
from creditlens.routing.fast._route import votes_are_smaller

f64 = torch.float64
N, N_OUT, D_INP = 7, 4, 5
D_SCALAR = 3 * N  # an input size with which layers with d_out == 1 route by scalar votes


@pytest.fixture(autouse=True)
def default_chunks():
    """Each test starts and ends with the default chunk size."""
    set_chunk_elements(None)
    yield
    set_chunk_elements(None)


def _case(
    n_inp: int, n_iters: int, d_out: int, normalize: bool, d_inp: int = D_INP
) -> EfficientVectorRouting:
    module = EfficientVectorRouting(
        n_inp=n_inp, n_out=N_OUT, d_inp=d_inp, d_out=d_out, n_iters=n_iters, normalize=normalize, dtype=f64
    )
    with torch.no_grad():  # zero-initialised biases would hide their terms of the gradients
        for p in module.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    return module


def _masks(kind: str, batch: tuple[int, ...]) -> dict[str, torch.Tensor]:
    """No mask, a pair mask with an input masked for every output, padding, or both."""
    mask = torch.rand(*batch[-1:], N, N_OUT) < 0.3
    mask[..., 2, :] = True
    pad_mask = torch.zeros(*batch, N, dtype=torch.bool)
    pad_mask[..., N - 2 :] = True
    return {
        "none": {},
        "mask": {"mask": mask},
        "pad_mask": {"pad_mask": pad_mask},
        "both": {"mask": mask[..., 0:1, :, :] if batch else mask, "pad_mask": pad_mask},
    }[kind]


def _outputs_and_grads(module, x_inp, x_grad: bool, lean: bool, weight: torch.Tensor, **kw) -> list:
    x_inp = x_inp.detach().requires_grad_(x_grad)
    if lean:
        x_out = module(x_inp, **kw)
    else:
        with fast_paths(False):
            x_out = module.route(x_inp, **kw).x_out
    assert (type(x_out.grad_fn).__name__ == "LeanRoutingBackward") == lean
    (x_out * weight).sum().backward()
    grads = [p.grad for p in module.parameters()] + ([x_inp.grad] if x_grad else [])
    module.zero_grad(set_to_none=True)
    return [x_out.detach(), *grads]


# (batch, masks, x needs its gradient, chunk elements): 8 is two inputs per chunk, or two samples' worth.
VARIANTS = [
    ((), "none", False, None),
    ((), "mask", True, 8),
    ((), "pad_mask", True, None),
    ((2, 3), "none", True, 8),
    ((2, 3), "mask", False, 8),
    ((2, 3), "pad_mask", True, 8),
    ((2, 3), "both", True, None),
    ((2, 3), "both", False, 2 * N * N_OUT),
]


@pytest.mark.parametrize("n_inp", [-1, N])
@pytest.mark.parametrize("n_iters", [1, 2, 3])
@pytest.mark.parametrize(("d_out", "d_inp"), [(1, D_INP), (3, D_INP), (1, D_SCALAR)])
@pytest.mark.parametrize("normalize", [True, False])
def test_lean_call_equals_autograd(n_inp, n_iters, d_out, d_inp, normalize) -> None:
    module = _case(n_inp, n_iters, d_out, normalize, d_inp)
    assert votes_are_smaller(module, torch.empty(N, d_inp)) == (d_inp == D_SCALAR)
    for batch, masks, x_grad, chunk_elements in VARIANTS:
        set_chunk_elements(chunk_elements)
        x_inp = torch.randn(*batch, N, d_inp, dtype=f64)
        weight = torch.randn(*batch, N_OUT, d_out, dtype=f64)
        kw = _masks(masks, batch)
        lean = _outputs_and_grads(module, x_inp, x_grad, True, weight, **kw)
        full = _outputs_and_grads(module, x_inp, x_grad, False, weight, **kw)
        for k, (a, b) in enumerate(zip(lean, full, strict=True)):
            where = (batch, masks, x_grad, chunk_elements, k)
            assert (a is None) == (b is None), where  # unused parameters get no gradient in both
            assert a is None or torch.allclose(a, b, rtol=1e-10, atol=1e-12), where


def test_chunks_of_whole_samples_and_of_parts_of_one() -> None:
    module = _case(-1, 2, 3, True)
    x_inp = torch.randn(5, N, D_INP, dtype=f64)
    weight = torch.randn(5, N_OUT, 3, dtype=f64)
    full = _outputs_and_grads(module, x_inp, True, False, weight)
    for chunk_elements in (N_OUT, 3 * N_OUT, 2 * N * N_OUT, 10**6):  # 1 or 3 inputs, 2 or all samples
        set_chunk_elements(chunk_elements)
        lean = _outputs_and_grads(module, x_inp, True, True, weight)
        for a, b in zip(lean, full, strict=True):
            assert torch.allclose(a, b, rtol=1e-10, atol=1e-12)


def test_frozen_parameters_get_no_gradient() -> None:
    module = _case(-1, 2, 3, True)
    module.W_F1.requires_grad_(False)
    module.compute_beta_ign.weight.requires_grad_(False)
    module(torch.randn(N, D_INP, dtype=f64)).sum().backward()
    assert module.W_F1.grad is None and module.compute_beta_ign.weight.grad is None
    assert module.W_F2.grad is not None and module.compute_beta_use.weight.grad is not None


@pytest.mark.parametrize(("d_out", "d_inp"), [(3, D_INP), (1, D_SCALAR)])
def test_backward_twice_with_retain_graph(d_out: int, d_inp: int) -> None:
    module = _case(-1, 3, d_out, True, d_inp)
    x_inp = torch.randn(2, N, d_inp, dtype=f64, requires_grad=True)
    module(x_inp).square().sum().backward()
    once = [x_inp.grad.clone()] + [p.grad.clone() for p in module.parameters()]
    module.zero_grad(set_to_none=True)
    x_inp.grad = None
    x_out = module(x_inp).square().sum()
    x_out.backward(retain_graph=True)
    x_out.backward()
    twice = [x_inp.grad] + [p.grad for p in module.parameters()]
    for a, b in zip(once, twice, strict=True):
        assert torch.allclose(2 * a, b, rtol=1e-10, atol=1e-12)


def test_no_gradients_keeps_nothing() -> None:
    module = _case(-1, 2, 3, True)
    for p in module.parameters():
        p.requires_grad_(False)
    assert module(torch.randn(N, D_INP, dtype=f64)).grad_fn is None


@pytest.mark.parametrize("n_inp", [-1, N])
@pytest.mark.parametrize(("d_out", "d_inp"), [(3, D_INP), (1, D_SCALAR)])
def test_gradcheck_through_the_lean_call(n_inp: int, d_out, d_inp) -> None:
    set_chunk_elements(3 * N_OUT)  # chunks of 3 inputs
    module = _case(n_inp, 3, d_out, True, d_inp)
    names = [name for name, _ in module.named_parameters()]
    mask = torch.rand(2, N, N_OUT) < 0.3
    mask[0, 1] = True

    def lean(x_inp: torch.Tensor, *params: torch.Tensor) -> torch.Tensor:
        x_out = torch.func.functional_call(module, dict(zip(names, params)), (x_inp,), {"mask": mask})
        assert type(x_out.grad_fn).__name__ == "LeanRoutingBackward"
        return x_out

    x_inp = torch.randn(2, N, d_inp, dtype=f64, requires_grad=True)
    params = [p.detach().clone().requires_grad_() for p in module.parameters()]
    assert torch.autograd.gradcheck(lean, (x_inp, *params))


@pytest.mark.parametrize("n_inp", [-1, 4])
@pytest.mark.parametrize("n_iters", [1, 2, 3])
def test_scalar_votes_equal_the_sums(n_inp: int, n_iters: int) -> None:
    module = EfficientVectorRouting(n_inp=n_inp, n_out=N_OUT, d_inp=16, d_out=1, n_iters=n_iters, dtype=f64)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    x_inp = torch.randn(2, 3, 4, 16, dtype=f64)
    assert votes_are_smaller(module, x_inp)  # the fast paths route by scalar votes; Algorithm 1 by the sums
    mask = torch.rand(4, N_OUT) < 0.3
    mask[1] = True
    pad_mask = torch.zeros(2, 3, 4, dtype=torch.bool)
    pad_mask[1, :, 3] = True
    for kw in ({}, {"mask": mask, "pad_mask": pad_mask}):
        results = []
        for scalar in (True, False):
            with fast_paths(scalar):
                x = x_inp.clone().requires_grad_()
                assert (type(module(x, **kw).grad_fn).__name__ == "LeanRoutingBackward") == scalar
                out = module.route(x, **kw)
                (out.x_out.square().sum() + out.phi.sin().sum()).backward()
            kept = [out.x_out, out.phi, out.R, out.S, out.pred_x_inp, x.grad]
            results.append(kept + [p.grad for p in module.parameters()])
            module.zero_grad(set_to_none=True)
        for a, b in zip(*results, strict=True):
            assert (a is None) == (b is None)
            assert a is None or torch.allclose(a, b, rtol=1e-10, atol=1e-12)


def test_head_plain_call_equals_its_credit_path() -> None:
    head = RoutingHead(d_depth=2, d_emb=6, n_classes=3, n_hid=4, dtype=f64)
    hidden_states = torch.randn(2, 5, 2, 6, dtype=f64)
    pad_mask = torch.tensor([[False] * 5, [False] * 3 + [True] * 2])
    results = []
    for fast in (True, False):
        h = hidden_states.clone().requires_grad_()
        with fast_paths(fast):
            scores = head(h, pad_mask=pad_mask) if fast else head.forward_with_phi(h, pad_mask).scores
        scores.square().sum().backward()
        results.append([scores, h.grad] + [p.grad for p in head.parameters()])
        head.zero_grad(set_to_none=True)
    for a, b in zip(*results, strict=True):
        assert torch.allclose(a, b, rtol=1e-10, atol=1e-12)
