"""Raw credit on disk: arrays in `<stem>.npz`, metadata in a `<stem>.json` sidecar, and loading both back.

The `.npz` holds `credit` (`[n_pos, d_depth]`, the credit of each position at each depth for the explained
class), `scores` (`[n_classes]`) and, for images when kept, `image` (`[H, W, 3]` uint8). The JSON names the
model, the labels, the class with its score and probability, the depths, and what each position is (prefix
tokens and the patch grid, or the text with each token's string, character offsets and special flag), so
the figures can be redrawn, in Python or elsewhere, without the model.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .raw import RawCredit

FORMAT = "creditlens.raw_credit"
VERSION = 1


def save_raw(raw: RawCredit, out_dir: str | Path, stem: str) -> list[Path]:
    """Write `raw` as `<out_dir>/<stem>.npz` and `<out_dir>/<stem>.json`; return both paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    npz_path = out / f"{stem}.npz"
    json_path = out / f"{stem}.json"
    arrays = {"credit": raw.credit, "scores": raw.scores}
    if raw.image is not None:
        arrays["image"] = raw.image
    np.savez_compressed(npz_path, **arrays)
    json_path.write_text(json.dumps(_metadata(raw, npz_path.name), indent=1, ensure_ascii=False) + "\n")
    return [npz_path, json_path]


def load_raw(path: str | Path) -> RawCredit:
    """Read raw credit written by `save_raw` (or `export`).

    Args:
        path: the `.npz`, the `.json`, or their common path without suffix.

    Raises:
        FileNotFoundError: if the JSON sidecar or its `.npz` is missing.
        ValueError: if the JSON is not creditlens raw credit.
    """
    path = Path(path)
    base = path.with_suffix("") if path.suffix in (".npz", ".json") else path
    json_path = base.with_name(base.name + ".json")
    meta = json.loads(json_path.read_text())
    if meta.get("format") != FORMAT:
        raise ValueError(f"{json_path} is not creditlens raw credit (format {meta.get('format')!r}).")
    if meta.get("version", 0) > VERSION:
        raise ValueError(f"{json_path} has version {meta['version']}; this creditlens reads up to {VERSION}.")
    with np.load(json_path.with_name(meta["credit"]["file"])) as arrays:
        loaded = {key: arrays[key] for key in arrays.files}
    positions = meta["positions"]
    common = {
        "model": meta["model"],
        "labels": tuple(meta["labels"]),
        "cls": int(meta["class"]["index"]),
        "scores": loaded["scores"],
        "credit": loaded["credit"],
        "depths": tuple(meta["depths"]),
        "method": meta.get("method", ""),
    }
    if meta["kind"] == "image":
        prefix = int(positions["num_prefix_tokens"])
        grid = tuple(positions["grid_size"])
        return RawCredit(
            "image", num_prefix_tokens=prefix, grid_size=grid, image=loaded.get("image"), **common
        )
    return RawCredit(
        "text",
        text=positions["text"],
        tokens=tuple(positions["tokens"]),
        offsets=positions["offsets"],
        special=positions["special"],
        **common,
    )


def _metadata(raw: RawCredit, npz_name: str) -> dict:
    """The JSON sidecar of `raw` (plain types only)."""
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "kind": raw.kind,
        "model": raw.model,
        "method": raw.method,
        "labels": list(raw.labels),
        "class": {
            "index": raw.cls,
            "name": raw.label,
            "score": float(raw.scores[raw.cls]),
            "prob": float(raw.probs[raw.cls]),
        },
        "depths": list(raw.depths),
        "credit": {
            "file": npz_name,
            "key": "credit",
            "shape": list(raw.credit.shape),
            "layout": "credit[position, depth] for the class; scores[class] in key 'scores'",
        },
    }
    if raw.kind == "image":
        meta["positions"] = {
            "layout": "num_prefix_tokens prefix tokens, then the patches of the grid row by row",
            "num_prefix_tokens": raw.num_prefix_tokens,
            "grid_size": list(raw.grid_size),
        }
        meta["image"] = None if raw.image is None else {"key": "image", "shape": list(raw.image.shape)}
    else:
        meta["positions"] = {
            "layout": "tokens in order (padding removed); offsets are character spans in text",
            "text": raw.text,
            "tokens": list(raw.tokens),
            "offsets": raw.offsets.tolist(),
            "special": [bool(s) for s in raw.special],
        }
    return meta
