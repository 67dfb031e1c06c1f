"""Typed results of a routing call: the outputs together with the credit that produced them."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class VectorRoutingOutput:
    """Everything a vector routing (Heinsen 2022) computed in its last iteration.

    Attributes:
        x_out: output vectors `[..., n_out, d_out]`.
        phi: credit each output assigns to each input, `[..., n_inp, n_out]`
            (`beta_use * D_use - beta_ign * D_ign`).
        R: routing probabilities `[..., n_inp, n_out]`.
        a_inp: input activation scores `[..., n_inp]`.
        f_a_inp: sigmoid of `a_inp`, zero on masked pairs: `[..., n_inp, 1]` or `[..., n_inp, n_out]`.
        pred_x_inp: inputs predicted by each output `[..., n_out, d_inp]`; None after a single iteration.
        S: similarity of actual and predicted inputs `[..., n_inp, n_out]`; None after a single iteration.
        V: votes `[..., n_inp, n_out, d_out]` when the layer materialises them, else None.
        std_out: the standard deviation each output vector was divided by when normalized, `[..., n_out, 1]`
            (`sqrt(var + eps)` of the M-step's output); None when the layer does not normalize. Held at this
            value, the normalization is linear, which makes exact contributions possible.
    """

    x_out: torch.Tensor
    phi: torch.Tensor
    R: torch.Tensor
    a_inp: torch.Tensor
    f_a_inp: torch.Tensor
    pred_x_inp: torch.Tensor | None = None
    S: torch.Tensor | None = None
    V: torch.Tensor | None = None
    std_out: torch.Tensor | None = None

    @property
    def D_use(self) -> torch.Tensor:
        """Share of each input's activation used by each output, `[..., n_inp, n_out]`."""
        return self.f_a_inp * self.R  # [...ij]

    @property
    def D_ign(self) -> torch.Tensor:
        """Share of each input's activation ignored by each output, `[..., n_inp, n_out]`."""
        return self.f_a_inp - self.D_use  # [...ij]

    def to_dict(self) -> dict[str, torch.Tensor | None]:
        """The reference implementation's `return_dict=True` keys."""
        keys = ("a_inp", "V", "pred_x_inp", "S", "R", "D_use", "D_ign", "phi", "x_out")
        return {k: getattr(self, k) for k in keys}


@dataclass(frozen=True)
class MatrixRoutingOutput:
    """Everything a generative matrix routing (Heinsen 2019) computed in its last iteration.

    Attributes:
        a_out: output activation scores `[..., n_out]`.
        mu_out: output means `[..., n_out, d_cov, d_out]`.
        sig2_out: output variances `[..., n_out, d_cov, d_out]`.
        V: votes `[..., n_inp, n_out, d_cov, d_out]`.
        R: routing probabilities `[..., n_inp, n_out]`.
        D_use, D_ign: used and ignored shares of each input's activation, `[..., n_inp, n_out]`.
        phi: credit `beta_use * D_use - beta_ign * D_ign`, `[..., n_inp, n_out]`; its sum over inputs is `a_out`.
        log_p: log-probability of each vote under each output's model `[..., n_inp, n_out]`; None after a
            single iteration.
    """

    a_out: torch.Tensor
    mu_out: torch.Tensor
    sig2_out: torch.Tensor
    V: torch.Tensor
    R: torch.Tensor
    D_use: torch.Tensor
    D_ign: torch.Tensor
    phi: torch.Tensor
    log_p: torch.Tensor | None = None

    def to_dict(self) -> dict[str, torch.Tensor | None]:
        """The reference implementation's `return_dict=True` keys."""
        keys = ("V", "log_p", "R", "D_use", "D_ign", "a_out", "mu_out", "sig2_out")
        return {k: getattr(self, k) for k in keys}
