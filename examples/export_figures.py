"""Export the full figure set of one explanation: PNG, SVG, PDF and the raw credit (.npz + .json).

Run: python examples/export_figures.py [--out DIR]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from creditlens.attribution.data.image_files import open_image
from creditlens.attribution.zoo import load_model
from creditlens.viz import export, load_raw, raw_credit

SAMPLE = Path(__file__).parents[1] / "app" / "samples" / "fashion-mnist-0002-trouser.png"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="figures", help="folder to write the files to")
    args = parser.parse_args()

    model = load_model("fashion-mnist-vit")
    image = open_image(SAMPLE)
    explanation = model.classifier.explain(image)
    raw = raw_credit(explanation, 0, model=model.info.name, image=np.asarray(image))
    paths = export(raw, args.out, "trouser", formats=["png", "svg", "pdf", "npz"], dpi=200)
    for path in paths:
        print(path)
    again = load_raw(paths[-1])  # the raw credit alone redraws every figure, no model needed
    print(f"raw credit {again.credit.shape} for {again.label}, redrawable from {paths[-1].name}")


if __name__ == "__main__":
    main()
