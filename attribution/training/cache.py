"""Hidden states of a data set, computed once by a frozen backbone and kept on disk.

Training a routing head (Heinsen 2022, Section 4) only needs the backbone's hidden states of every depth, so
they are computed once and stored as a float16 memory map `[N, n_pos, d_depth, d_emb]` with a pad mask
`[N, n_pos]`. A cache is keyed by a fingerprint of the backbone and the inputs: a changed data set or
backbone builds a new one instead of silently reusing stale states.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm


@dataclass(frozen=True)
class HiddenStateCache:
    """Hidden states of `N` inputs on disk.

    Attributes:
        states: float16 memory map `[N, n_pos, d_depth, d_emb]` (zeros on padding).
        pad_mask: bool `[N, n_pos]`, True on padding positions.
    """

    states: np.ndarray
    pad_mask: np.ndarray

    def __len__(self) -> int:
        return len(self.states)

    def batch(self, index: Sequence[int] | np.ndarray) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Float32 hidden states `[b, p, d_depth, d_emb]` and pad mask `[b, p]` (None if no padding), where `p`
        is the longest sample of the batch (positions that are padding in every sample cost nothing)."""
        index = np.sort(np.asarray(index))  # memory maps read fastest in order
        pad_mask = self.pad_mask[index]  # [bp]
        n_pos = int(np.flatnonzero(~pad_mask.all(axis=0)).max()) + 1  # drop positions padded in every sample
        states = torch.from_numpy(np.asarray(self.states[index, :n_pos], dtype=np.float32))  # [bpld]
        pad_mask = torch.from_numpy(pad_mask[:, :n_pos])  # [bp]
        return states, (pad_mask if bool(pad_mask.any()) else None)


def fingerprint(backbone_key: str, inputs: Sequence[Any]) -> str:
    """A short hash of the backbone's identity and the inputs, naming a cache."""
    digest = hashlib.sha256(backbone_key.encode())
    for item in inputs:
        digest.update(item.encode() if isinstance(item, str) else np.ascontiguousarray(item).tobytes())
    return digest.hexdigest()[:16]


def build_cache(
    backbone: torch.nn.Module,
    backbone_key: str,
    inputs: Sequence[Any],
    directory: str | Path,
    *,
    batch_size: int = 64,
    desc: str = "hidden states",
) -> HiddenStateCache:
    """Compute (or reuse) the hidden states of `inputs` under `directory/<fingerprint>/`.

    Args:
        backbone: a frozen backbone with `encode(inputs) -> Encoding` (`VisionBackbone`, `TextBackbone`).
        backbone_key: what identifies the backbone (its name and a hash of its weight files, say). Hashing
            the module's own state would not do: Hugging Face models initialise unused layers at random.
        inputs: images (uint8 arrays) or texts, anything `backbone.encode` takes as a list.
        directory: where caches live.
        batch_size: inputs per backbone call.
        desc: label of the progress bar.
    """
    if len(inputs) == 0:
        raise ValueError("no inputs to cache: the data set is empty.")
    root = Path(directory) / fingerprint(backbone_key, inputs)
    meta_path = root / "meta.json"
    if meta_path.exists():
        return _open(root, json.loads(meta_path.read_text()))
    root.mkdir(parents=True, exist_ok=True)
    batches = _encode_batches(backbone, inputs, batch_size, desc)
    # A vision backbone has a fixed number of positions, so its states stream straight to disk; texts are
    # padded to the longest one, known only at the end, so their (float16) batches are held until then.
    n_pos = getattr(backbone, "n_pos", None)
    if n_pos is None:
        batches = list(batches)
        n_pos = max(states.shape[1] for states, _ in batches)
    shape = (len(inputs), n_pos, backbone.d_depth, backbone.d_emb)
    states_file = np.lib.format.open_memmap(root / "states.npy", mode="w+", dtype=np.float16, shape=shape)
    pad_mask = np.ones(shape[:2], dtype=bool)
    start = 0
    for states, batch_pad in batches:
        b, p = states.shape[:2]
        states_file[start : start + b, :p] = states
        pad_mask[start : start + b, :p] = batch_pad
        start += b
    states_file.flush()
    np.save(root / "pad_mask.npy", pad_mask)
    meta = {"shape": list(shape), "n": len(inputs)}
    meta_path.write_text(json.dumps(meta))  # written last: a cache without it is incomplete and rebuilt
    return _open(root, meta)


def _encode_batches(
    backbone: torch.nn.Module, inputs: Sequence[Any], batch_size: int, desc: str
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Per batch: float16 hidden states `[b, p, d_depth, d_emb]` and pad mask `[b, p]`."""
    with torch.no_grad():
        for start in tqdm(range(0, len(inputs), batch_size), desc=desc, unit="batch"):
            encoding = backbone.encode(list(inputs[start : start + batch_size]))
            states = encoding.hidden_states.to(device="cpu", dtype=torch.float16).numpy()  # [bpld]
            pad = encoding.pad_mask
            yield states, np.zeros(states.shape[:2], dtype=bool) if pad is None else pad.cpu().numpy()


def _open(root: Path, meta: dict) -> HiddenStateCache:
    states = np.load(root / "states.npy", mmap_mode="r")
    if list(states.shape) != meta["shape"]:
        raise ValueError(
            f"the cache in {root} is corrupt (shape {states.shape}); delete the folder to rebuild it."
        )
    return HiddenStateCache(states, np.load(root / "pad_mask.npy"))
