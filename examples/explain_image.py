"""Explain an image with the bundled Fashion-MNIST ViT: top classes and the most credited patches.

Run: python examples/explain_image.py [IMAGE] [--target NAME]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from creditlens.attribution.data.image_files import open_image
from creditlens.attribution.zoo import load_model

SAMPLE = Path(__file__).parents[1] / "app" / "samples" / "fashion-mnist-0000-ankle-boot.png"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "image", nargs="?", default=str(SAMPLE), help="an image file (default: a bundled sample)"
    )
    parser.add_argument(
        "--target", help="the class to explain, by name or index (default: the predicted one)"
    )
    args = parser.parse_args()

    model = load_model("fashion-mnist-vit")
    explanation = model.classifier.explain(open_image(args.image))  # every class, so any target can be shown
    top = explanation.top_k(3)
    print("prediction:", ", ".join(f"{n} ({p:.2f})" for n, p in zip(top.names[0], top.probs[0].tolist())))
    target = args.target or top.names[0][0]
    cls = int(target) if target.isdigit() else target
    grid = explanation.grid(cls)[0]  # [rows, cols]: credit of each patch, summed over depths
    best = grid.flatten().topk(3).indices.tolist()
    cols = grid.shape[1]
    print(f"most credited patches for {cls}:", ", ".join(f"(row {i // cols}, col {i % cols})" for i in best))
    print("credit per depth:", [round(v, 2) for v in explanation.per_depth(cls)[0].tolist()])


if __name__ == "__main__":
    main()
