"""`creditlens explain`: explain images or a text with a zoo model and write figures and raw credit.

A folder or glob of images runs as a batch with a progress bar and a results table. Launched with
`torchrun --nproc_per_node N`, each process explains its share of the files (every N-th, by rank) and the
summaries are gathered on rank 0, so the files written and the table printed are those of one process.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from creditlens.attribution.data.image_files import MAX_PIXELS, open_image
from creditlens.attribution.data.userdata import IMAGE_SUFFIXES
from creditlens.attribution.explain_methods import check_method, method_line
from creditlens.attribution.zoo import ZooModel, load_model
from creditlens.viz import FORMATS, RawCredit, export, raw_credit

from .cli import add_command, add_paper_dir, add_threads, set_threads
from .text_limit import check_text

TOP_POSITIONS = 5


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `explain` subcommand."""
    p = add_command(sub, "explain")
    p.add_argument("images", nargs="*", help="image files, folders or globs (for an image model)")
    p.add_argument("--model", required=True, help="a zoo model name (see `creditlens models`)")
    p.add_argument("--text", help="the text to explain (for a text model)")
    p.add_argument("--text-file", type=Path, help="read the text to explain from this UTF-8 file")
    p.add_argument("--target", default="top1", help="a class name or index, top1 (default) or top3")
    p.add_argument(
        "--method", help="explanation method (default: the model's most faithful as measured): "
        "paper, contribution, contribution_rollout, contribution_lrp"
    )  # fmt: skip
    p.add_argument("--out", type=Path, default=Path("creditlens-out"), help="folder for the files")
    p.add_argument("--formats", default="png,npz", help=f"comma-separated, from {','.join(FORMATS)}")
    p.add_argument("--mode", choices=("signed", "magnitude"), default="signed", help="colour scale")
    p.add_argument("--dpi", type=int, default=200)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--max-pixels", type=int, default=MAX_PIXELS, help="refuse larger images")
    p.add_argument("--json", action="store_true", help="a machine-readable summary on stdout")
    add_threads(p)
    add_paper_dir(p)
    p.set_defaults(run=run_explain)


def run_explain(args: argparse.Namespace) -> int:
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        raise ValueError(f"unknown format(s) {', '.join(unknown)}; choose from {', '.join(FORMATS)}.")
    if args.out.exists() and not args.out.is_dir():
        raise ValueError(
            f"--out {args.out} is a file: give a folder for the figures (it is created if missing)."
        )
    text = _read_text(args) if args.text is not None or args.text_file is not None else None
    set_threads(args.threads)
    model = load_model(args.model, paper_dir=args.paper_dir)
    if args.method is None:
        args.method = model.info.method
    check_method(args.method, model.classifier.backbone)
    if model.info.task == "text":
        if args.images:
            raise ValueError(f"{args.model} is a text model: give --text or --text-file, not image files.")
        results = [_explain_text(model, text if text is not None else _read_text(args), args, formats)]
    else:
        if text is not None:
            raise ValueError(f"{args.model} is an image model: give image files, not --text.")
        results = _explain_images(model, _expand(args.images), args, formats)
    if results is None:  # not rank 0 of a torchrun launch
        return 0
    failed = [r for r in results if "error" in r]
    explained = [r for r in results if "error" not in r]
    for r in failed:
        print(f"creditlens explain: skipped {r['input']}: {r['error']}", file=sys.stderr)
    if args.json:
        summary = {"model": args.model, "method": args.method, "results": explained, "failed": failed}
        print(json.dumps(summary, indent=1))
    else:
        print(method_line(args.method, model.info.method, model.info.faithfulness))
        if explained:
            _print_summary(explained)
    # 1: some inputs could not be explained (each named above); the others were written.
    return 1 if failed else 0


def _explain_text(model: ZooModel, text: str, args: argparse.Namespace, formats: list[str]) -> dict[str, Any]:
    text, warning = check_text(text)
    if warning:
        print(f"creditlens explain: warning: {warning}", file=sys.stderr)
    explanation = model.classifier.explain([text], method=args.method, **_target_args(args.target))
    # Named by its content, so that texts explained into one folder do not overwrite each other.
    name = "text-" + hashlib.sha1(text.encode("utf-8")).hexdigest()[:8]
    return _summarise(model, explanation, 0, name, args, formats, image=None)


def _explain_images(
    model: ZooModel, paths: list[Path], args: argparse.Namespace, formats: list[str]
) -> list[dict[str, Any]] | None:
    rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    mine = paths[rank::world]
    results, good = [], []
    for path in mine:  # a file that cannot be read is named and skipped; the others are explained
        try:
            good.append((path, open_image(path, max_pixels=args.max_pixels)))
        except ValueError as err:
            results.append({"input": str(path), "error": str(err)})
    if not good and results:
        raise ValueError(f"no image could be read; the first: {results[0]['error']}")
    bar = tqdm(range(0, len(good), args.batch_size), desc="explaining", unit="batch", disable=len(good) <= 1)
    for start in bar:
        batch = good[start : start + args.batch_size]
        images = [image for _, image in batch]
        explanation = model.classifier.explain(images, method=args.method, **_target_args(args.target))
        for i, (path, image) in enumerate(batch):
            results.append(
                _summarise(model, explanation, i, str(path), args, formats, image=np.asarray(image))
            )
    order = {str(p): i for i, p in enumerate(paths)}
    results.sort(key=lambda r: order[r["input"]])  # in the order of the input files, skipped ones included
    return _gather(results, rank, world, order=list(order))


def _summarise(
    model: ZooModel, explanation: Any, sample: int, name: str, args: argparse.Namespace, formats: list[str],
    image: np.ndarray | None,
) -> dict[str, Any]:  # fmt: skip
    """Predictions, the explained classes' most credited positions, and the files written for one input."""
    top = explanation.top_k(min(3, len(explanation.labels)))
    predictions = [
        {"class": n, "index": int(i), "prob": round(float(p), 6)}
        for n, i, p in zip(top.names[sample], top.indices[sample], top.probs[sample], strict=True)
    ]
    stem_base = name if image is None else Path(name).stem
    explained = []
    for cls in _targets(args.target, top.indices[sample].tolist(), explanation):
        raw = raw_credit(explanation, sample, cls, model=model.info.name, image=image)
        label = raw.label.replace("/", "-").replace(" ", "_").split(",")[0]
        files = export(raw, args.out, f"{stem_base}_{label}", formats=formats, dpi=args.dpi, mode=args.mode)
        explained.append({"class": raw.label, "index": raw.cls, "top_positions": _top_positions(raw),
                          "files": [str(f) for f in files]})  # fmt: skip
    return {"input": name, "predictions": predictions, "explained": explained}


def _target_args(target: str) -> dict[str, Any]:
    """`explain`'s class arguments for `--target`: only the classes that will be drawn are explained."""
    if target in ("top1", "top3"):
        return {"top_k": int(target[-1])}
    return {"target": _named_class(target)}


def _targets(target: str, ranked: list[int], explanation: Any) -> list[int]:
    if target in ("top1", "top3"):
        return ranked[: int(target[-1])]
    return [explanation.class_index(_named_class(target))]


def _named_class(target: str) -> int | str:
    """`--target` as a class index (digits) or a class name."""
    return int(target) if target.lstrip("-").isdigit() else target


def _top_positions(raw: RawCredit) -> list[dict[str, Any]]:
    """The most credited visible patches (row, column) or tokens, summed over depths."""
    per_position = raw.credit.sum(axis=-1)  # [p]
    visible = np.flatnonzero(~raw.hidden)
    best = visible[np.argsort(-per_position[visible], kind="stable")[:TOP_POSITIONS]]
    if raw.kind == "image":
        cols = raw.grid_size[1]
        patch = best - raw.num_prefix_tokens
        return [{"row": int(p // cols), "col": int(p % cols), "credit": round(float(per_position[b]), 6)}
                for p, b in zip(patch, best, strict=True)]  # fmt: skip
    strings = raw.token_strings()
    return [
        {"token": strings[b], "position": int(b), "credit": round(float(per_position[b]), 6)} for b in best
    ]


def _gather(
    results: list[dict[str, Any]], rank: int, world: int, order: list[str]
) -> list[dict[str, Any]] | None:
    """All processes' results on rank 0, in the order of the input files (None elsewhere)."""
    if world == 1:
        return results
    import torch.distributed as dist

    joined = not dist.is_initialized()
    if joined:
        dist.init_process_group("gloo")
    gathered = [None] * world if rank == 0 else None
    dist.gather_object(results, gathered, dst=0)
    if joined:
        # A process that exits with the group's threads still running aborts ("terminate called without an
        # active exception"), so every process waits for the others, then leaves the group it joined.
        dist.barrier()
        dist.destroy_process_group()
    if rank != 0:
        return None
    merged = {r["input"]: r for part in gathered for r in part}
    return [merged[name] for name in order]


def _expand(items: list[str]) -> list[Path]:
    """Image paths from files, folders (their image files, sorted) and glob patterns."""
    if not items:
        raise ValueError("give at least one image file, folder or glob (or --text for a text model).")
    paths: list[Path] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise ValueError(f"{path} holds no image files ({', '.join(IMAGE_SUFFIXES)}).")
            paths += found
        elif any(ch in item for ch in "*?["):
            found = sorted(Path(p) for p in glob.glob(item) if Path(p).suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise ValueError(f"the pattern {item!r} matches no image files.")
            paths += found
        elif path.is_file():
            paths.append(path)
        else:
            raise ValueError(f"{item} does not exist.")
    return paths


def _read_text(args: argparse.Namespace) -> str:
    if args.text is not None and args.text_file is not None:
        raise ValueError("give --text or --text-file, not both.")
    if args.text_file is not None:
        try:
            text = args.text_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise ValueError(f"cannot read {args.text_file} as UTF-8 text ({err}).") from None
    elif args.text is not None:
        text = args.text
    else:
        raise ValueError('give --text "..." or --text-file FILE for a text model.')
    if not text.strip():
        raise ValueError("the text is empty: give some words to explain.")
    return text


def _print_summary(results: list[dict[str, Any]]) -> None:
    """One input: its predictions and credit in detail; several: a results table."""
    if len(results) > 1:
        width = max(len(r["input"]) for r in results)
        print(f"{'input':<{width}}  {'prediction':<20}  {'prob':>5}  most credited")
        for r in results:
            best, where = r["predictions"][0], _where(r["explained"][0]["top_positions"][:1])
            print(f"{r['input']:<{width}}  {best['class'][:20]:<20}  {best['prob']:5.2f}  {where}")
        return
    for r in results:
        print(f"{r['input']}: " + ", ".join(f"{p['class']} ({p['prob']:.2f})" for p in r["predictions"]))
        for e in r["explained"]:
            print(f"  credit for {e['class']}: most credited {_where(e['top_positions'])}")
            print(f"  wrote {len(e['files'])} file(s): {', '.join(Path(f).name for f in e['files'])}")


def _where(positions: list[dict[str, Any]]) -> str:
    if positions and "token" in positions[0]:
        return ", ".join(f"{t['token']!r} {t['credit']:+.2f}" for t in positions)
    return ", ".join(f"patch ({t['row']},{t['col']}) {t['credit']:+.2f}" for t in positions)
