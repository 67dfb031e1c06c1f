"""Under bfloat16 autocast the lean routing's elementwise work runs compiled (routing/_fused.py): the compiled
kernels must compute what the same functions compute uncompiled, in every kind of call, and a machine where
compiling fails must still get right results, with a warning that says why it is slower.
"""

from __future__ import annotations

import pytest
import torch

import creditlens.routing._em as em
import creditlens.routing._fused as fused
from creditlens.routing import EfficientVectorRouting
from creditlens.routing._call import make_call

BF16 = {"device_type": "cpu", "dtype": torch.bfloat16}
N, N_OUT, D_INP = 24, 6, 32


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
    monkeypatch.setattr(em, "CHUNK_ELEMENTS", 10 * N_OUT // em.LOW_PRECISION_CHUNK_FACTOR)
    module = _layer(n_inp, d_out=16)
    x_inp = torch.randn(2, N, D_INP)
    with torch.autocast(**BF16):
        assert len(make_call(module, x_inp, None, torch.ones(1)).chunks) == 6  # three of 8 inputs per sample
    mask = None
    if masked:
        mask = torch.rand(2, N, N_OUT) < 0.3
        mask[0, 3] = True  # an input masked for every output
    compiled = _run(module, x_inp, mask)
    assert fused.ENABLED and fused._COMPILED  # compiled, and compiling did not fail
    monkeypatch.setattr(fused, "ENABLED", False)
    as_written = _run(module, x_inp, mask)
    for k, (a, b) in enumerate(zip(compiled, as_written, strict=True)):
        assert torch.isfinite(a).all(), k
        # Both round the same products to bfloat16; only the order of float32 sums differs.
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=f"output {k}")


def test_a_failed_compilation_warns_and_gives_the_same_results(monkeypatch: pytest.MonkeyPatch) -> None:
    module = _layer(-1, d_out=16)
    x_inp = torch.randn(2, N, D_INP)
    monkeypatch.setattr(fused, "ENABLED", False)
    expected = _run(module, x_inp, None)

    def no_compiler(fn, **kwargs):
        def compiled(*args):
            raise RuntimeError("InvalidCxxCompiler: No working C++ compiler found")

        return compiled

    monkeypatch.setattr(fused, "ENABLED", True)
    monkeypatch.setattr(fused, "_COMPILED", {})
    monkeypatch.setattr(torch, "compile", no_compiler)
    with pytest.warns(
        RuntimeWarning, match="could not compile.*No working C\\+\\+ compiler.*apt-get install g\\+\\+"
    ):
        got = _run(module, x_inp, None)
    assert fused.ENABLED is False  # warned once, then uncompiled from there on
    for a, b in zip(got, expected, strict=True):
        assert torch.equal(a, b)
