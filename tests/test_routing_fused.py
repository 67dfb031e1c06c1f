"""Under bfloat16 autocast the lean routing's elementwise work runs compiled (routing/fast/_fused.py): the
compiled kernels must compute what the same functions compute uncompiled (`torch.compile` replaced by an
identity), in every kind of call, and a machine where compiling fails must still get right results, with one
warning that says why it is slower.
"""

from __future__ import annotations

import warnings

import pytest
import torch

from creditlens.routing import EfficientVectorRouting, set_chunk_elements
from creditlens.routing.fast._call import make_call
from creditlens.routing.fast._route import LOW_PRECISION_CHUNK_FACTOR

BF16 = {"device_type": "cpu", "dtype": torch.bfloat16}
N, N_OUT, D_INP = 24, 6, 32


@pytest.fixture(autouse=True)
def default_chunks():
    """Each test starts and ends with the default chunk size."""
    set_chunk_elements(None)
    yield
    set_chunk_elements(None)


def _as_written(fn, **kwargs):
    """A `torch.compile` that compiles nothing: the functions run as written."""
    return fn


def _layer(n_inp: int, d_out: int) -> EfficientVectorRouting:
    torch.manual_seed(0)
    module = EfficientVectorRouting(n_inp=n_inp, n_out=N_OUT, d_inp=D_INP, d_out=d_out, n_iters=3)
    with torch.no_grad():  # zero-initialised biases would hide their terms of the gradients
        for p in module.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    return module


def _run(
    module: EfficientVectorRouting, x_inp: torch.Tensor, mask: torch.Tensor | None
) -> list[torch.Tensor]:
    """x_out of the plain call under bfloat16 autocast, with and without gradients, and all its gradients."""
    x_inp = x_inp.detach().requires_grad_()
    with torch.autocast(**BF16):
        x_out = module(x_inp, mask=mask)
        with torch.no_grad():
            x_out_no_grad = module(x_inp, mask=mask)
    (x_out * torch.linspace(-1, 1, x_out.numel()).view_as(x_out)).sum().backward()
    grads = [x_inp.grad] + [p.grad for p in module.parameters()]
    module.zero_grad(set_to_none=True)
    return [x_out.detach(), x_out_no_grad, *grads]


@pytest.mark.parametrize("n_inp", [-1, N])
@pytest.mark.parametrize("masked", [False, True])
def test_compiled_kernels_equal_the_functions_as_written(
    monkeypatch: pytest.MonkeyPatch, n_inp: int, masked: bool
) -> None:
    # several chunks per sample under bfloat16 (whose chunks are larger)
    set_chunk_elements(10 * N_OUT // LOW_PRECISION_CHUNK_FACTOR)
    module = _layer(n_inp, d_out=16)
    x_inp = torch.randn(2, N, D_INP)
    with torch.autocast(**BF16):
        assert len(make_call(module, x_inp, None, torch.ones(1)).chunks) == 6  # three of 8 inputs per sample
    mask = None
    if masked:
        mask = torch.rand(2, N, N_OUT) < 0.3
        mask[0, 3] = True  # an input masked for every output
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # compiling did not fail
        compiled = _run(module, x_inp, mask)
    monkeypatch.setattr(torch, "compile", _as_written)
    as_written = _run(module, x_inp, mask)
    for k, (a, b) in enumerate(zip(compiled, as_written, strict=True)):
        assert torch.isfinite(a).all(), k
        # Both round the same products to bfloat16; only the order of float32 sums differs.
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=f"output {k}")


def test_a_failed_compilation_warns_and_gives_the_same_results(monkeypatch: pytest.MonkeyPatch) -> None:
    module = _layer(-1, d_out=16)
    x_inp = torch.randn(2, N, D_INP)
    monkeypatch.setattr(torch, "compile", _as_written)
    expected = _run(module, x_inp, None)

    def no_compiler(fn, **kwargs):
        def compiled(*args):
            raise RuntimeError("InvalidCxxCompiler: No working C++ compiler found")

        return compiled

    monkeypatch.setattr(torch, "compile", no_compiler)
    with pytest.warns(
        RuntimeWarning, match="could not compile.*No working C\\+\\+ compiler.*apt-get install g\\+\\+"
    ) as record:
        got = _run(module, x_inp, None)
    assert len(record) == 1  # warned once (forward and backward kernels), then uncompiled from there on
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        again = _run(module, x_inp, None)
    for a, b, c in zip(got, again, expected, strict=True):
        assert torch.equal(a, b) and torch.equal(a, c)
