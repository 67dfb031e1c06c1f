"""record_phi: the phi of every routing inside a module, in forward order, with the module left untouched."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from creditlens.attribution import PhiRecorder, record_phi, sequential
from creditlens.routing import (
    DefinableVectorRouting,
    EfficientVectorRouting,
    GenerativeMatrixRouting,
    MatrixRoutingOutput,
    RoutingHead,
    VectorRoutingOutput,
    observe_routings,
)

from _modules import DotProductSimilarities, LearnedMemories
from conftest import load_case, max_rel_err, state_of

f64 = torch.float64
HOOK_DICTS = (
    "_forward_hooks",
    "_forward_hooks_with_kwargs",
    "_forward_hooks_always_called",
    "_forward_pre_hooks",
    "_forward_pre_hooks_with_kwargs",
    "_backward_hooks",
    "_backward_pre_hooks",
    "_state_dict_hooks",
    "_state_dict_pre_hooks",
    "_load_state_dict_pre_hooks",
    "_load_state_dict_post_hooks",
)
GLOBAL_HOOKS = (
    "_global_forward_hooks",
    "_global_forward_pre_hooks",
    "_global_backward_hooks",
    "_global_backward_pre_hooks",
)


class Block(nn.Module):
    """A routing nested one level down, behind a LayerNorm."""

    def __init__(self, d: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(d)
        self.inner = EfficientVectorRouting(n_inp=5, n_out=5, d_inp=d, d_out=d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.inner(self.norm(x))


class Net(nn.Module):
    """All three routing classes, nested, called in an order that differs from their registration order."""

    def __init__(self, d: int = 6) -> None:
        super().__init__()
        self.early = EfficientVectorRouting(n_inp=-1, n_out=5, d_inp=d, d_out=d)
        self.blocks = nn.ModuleList([Block(d), Block(d)])
        self.definable = DefinableVectorRouting(
            A=nn.Linear(d, 1), F=LearnedMemories(5, 3, 4), G=nn.Linear(4, d), S=DotProductSimilarities(),
            n_inp=5, n_out=3,
        )  # fmt: skip
        self.matrix = GenerativeMatrixRouting(n_inp=3, n_out=2, d_cov=2, d_inp=2, d_out=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.early(x)  # [b, 5, d]
        h = self.blocks[1](h)
        h = self.blocks[0](h)
        h = self.definable(h)  # [b, 3, 4]
        a_out, mu_out, _ = self.matrix(h.mean(dim=-1), h.unflatten(-1, (2, 2)))
        return a_out + mu_out.sum(dim=(-2, -1))  # [b, 2]


NET_NAMES = ["early", "blocks.1.inner", "blocks.0.inner", "definable", "matrix"]


def _module_state(model: nn.Module) -> dict[str, object]:
    """Everything about every module that recording could change: hooks, flags, attributes."""
    state: dict[str, object] = {}
    for name, sub in model.named_modules():
        state[name] = {
            "hooks": {attr: list(getattr(sub, attr, {}).items()) for attr in HOOK_DICTS},
            "full_backward_hook": getattr(sub, "_is_full_backward_hook", None),
            "training": sub.training,
            "attributes": sorted(vars(sub)),
            "requires_grad": [p.requires_grad for p in sub.parameters(recurse=False)],
        }
    state["<global>"] = {h: list(getattr(nn.modules.module, h).items()) for h in GLOBAL_HOOKS}
    return state


def test_records_a_routing_head_in_forward_order() -> None:
    head = RoutingHead(d_depth=3, d_emb=8, n_classes=5, n_hid=4)
    hidden = torch.randn(2, 6, 3, 8)
    with record_phi(head) as rec:
        out = head.forward_with_phi(hidden)
    assert isinstance(rec, PhiRecorder)
    assert rec.names == ["route.0", "route.1", "route.2"]
    assert len(rec) == 3
    assert all(a is b for a, b in zip(rec.phis, out.phis))
    assert [tuple(p.shape) for p in rec.phis] == [(2, 18, 4), (2, 4, 4), (2, 4, 5)]
    again = head.forward_with_phi(hidden)
    assert all(torch.equal(a, b) for a, b in zip(rec.phis, again.phis))


def test_recorded_phis_give_the_paper_end_to_end_credit() -> None:
    _, tensors = load_case("paper_head_toy")
    head = RoutingHead(d_depth=3, d_emb=8, n_classes=5, n_hid=4, dtype=f64)
    head.load_state_dict(state_of(tensors))
    with record_phi(head) as rec:
        scores = head(tensors["hidden_states"])
    assert max_rel_err(scores, tensors["out.scores"]) < 1e-9
    assert max_rel_err(sequential(rec.phis, per_sample=False), tensors["out.end_to_end"]) < 1e-9


def test_records_nested_routings_of_every_class_with_names() -> None:
    net = Net()
    x = torch.randn(2, 7, 6)
    stray = EfficientVectorRouting(n_inp=-1, n_out=3, d_inp=6, d_out=6)
    with record_phi(net) as rec:
        stray(x)  # not inside net: ignored
        net(x)
        stray(x)
    assert rec.names == NET_NAMES
    kinds = [VectorRoutingOutput] * 4 + [MatrixRoutingOutput]
    assert [type(r) for r in rec.results] == kinds
    assert all(r.phi is p for r, p in zip(rec.results, rec.phis))
    assert [tuple(p.shape) for p in rec.phis] == [(2, 7, 5), (2, 5, 5), (2, 5, 5), (2, 5, 3), (2, 3, 2)]


def test_records_a_routing_called_twice_and_the_module_itself() -> None:
    routing = EfficientVectorRouting(n_inp=4, n_out=4, d_inp=3, d_out=3)
    x = torch.randn(4, 3)
    with record_phi(routing) as rec:
        routing(routing(x))
        routing.route(x)
    assert rec.names == ["", "", ""]


def test_nothing_is_recorded_after_the_block() -> None:
    net = Net()
    x = torch.randn(1, 4, 6)
    with record_phi(net) as rec:
        net(x)
    net(x)
    assert rec.names == NET_NAMES


def test_an_exception_in_the_block_stops_recording() -> None:
    net = Net()
    x = torch.randn(1, 4, 6)
    with pytest.raises(RuntimeError, match="boom"), record_phi(net) as rec:
        net(x)
        raise RuntimeError("boom")
    net(x)
    assert rec.names == NET_NAMES
    seen: list[nn.Module] = []
    with observe_routings(lambda module, result: seen.append(module)):
        net(x)
    assert len(seen) == 5  # only the new observer is called
    assert rec.names == NET_NAMES


def test_an_exception_inside_the_forward_stops_recording() -> None:
    routing = EfficientVectorRouting(n_inp=-1, n_out=3, d_inp=4, d_out=4)
    with pytest.raises(ValueError, match="d_inp"), record_phi(routing) as rec:
        routing(torch.randn(5, 4))
        routing(torch.randn(5, 9))  # wrong size: raises inside the forward
    routing(torch.randn(5, 4))
    assert len(rec) == 1


@pytest.mark.parametrize("grad", [True, False])
def test_leaves_modules_exactly_as_found(grad: bool) -> None:
    net = Net()
    net.blocks[0].eval()
    net.definable.A.weight.requires_grad_(False)
    x = torch.randn(2, 7, 6)
    before = _module_state(net)
    with torch.set_grad_enabled(grad):
        expected = net(x)
        with record_phi(net) as rec:
            actual = net(x)
        assert _module_state(net) == before
        after = net(x)
    assert len(rec) == 5
    assert torch.equal(actual, expected)
    assert torch.equal(after, expected)
    assert _module_state(net) == before


def test_gradients_flow_through_recorded_phi() -> None:
    head = RoutingHead(d_depth=2, d_emb=4, n_classes=3, n_hid=4)
    hidden = torch.randn(2, 5, 2, 4, requires_grad=True)
    with record_phi(head) as rec:
        head(hidden)
    assert all(p.requires_grad for p in rec.phis)
    sequential(rec.phis)[..., 0].sum().backward()
    assert hidden.grad is not None and bool(hidden.grad.abs().sum() > 0)
    assert head.route[0].W_A.grad is not None and bool(head.route[0].W_A.grad.abs().sum() > 0)


def test_without_gradients_phi_has_no_graph() -> None:
    head = RoutingHead(d_depth=2, d_emb=4, n_classes=3, n_hid=4)
    with torch.no_grad(), record_phi(head) as rec:
        head(torch.randn(1, 5, 2, 4))
    assert len(rec) == 3
    assert not any(p.requires_grad for p in rec.phis)


def test_nested_contexts_both_record() -> None:
    net = Net()
    x = torch.randn(1, 4, 6)
    with record_phi(net) as outer:
        with record_phi(net.blocks[0]) as inner:
            net(x)
        net(x)
    assert outer.names == NET_NAMES * 2
    assert inner.names == ["inner"]
    assert inner.phis[0] is outer.phis[2]
