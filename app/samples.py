"""The app's bundled inputs: Fashion-MNIST test images, scikit-image photos and sample movie reviews.

The Fashion-MNIST images (the first test image of each class, 28 x 28 greyscale PNG) are written once by
`python -m creditlens.app.samples` from the Debian package `dataset-fashion-mnist`; the photos come from
scikit-image's bundled data when it is installed and are out of domain for the Fashion-MNIST model on purpose
(the credit still shows what the model looked at).
"""

from __future__ import annotations

import argparse
import io
import re
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

SAMPLES_DIR = Path(__file__).with_name("samples")
REVIEWS_FILE = SAMPLES_DIR / "reviews.txt"
FASHION_PREFIX = "fashion-mnist"
PHOTOS: dict[str, str] = {  # sample name -> function of skimage.data (shipped in the wheel, no download)
    "Photo: astronaut (out of domain)": "astronaut",
    "Photo: a cat (out of domain)": "chelsea",
    "Photo: coffee (out of domain)": "coffee",
    "Photo: cameraman, grey (out of domain)": "camera",
}


def image_samples() -> list[str]:
    """Names of the sample images: the Fashion-MNIST ones, then the scikit-image photos if available."""
    names = [_sample_name(path) for path in sorted(SAMPLES_DIR.glob(f"{FASHION_PREFIX}-*.png"))]
    if _skimage_data() is not None:
        names += list(PHOTOS)
    return names


@lru_cache(maxsize=16)
def sample_bytes(name: str) -> bytes:
    """The PNG bytes of a sample image (from `image_samples`), read like an upload.

    Raises:
        ValueError: an unknown sample name.
    """
    data = _skimage_data()
    if name in PHOTOS and data is not None:
        return _png(getattr(data, PHOTOS[name])())
    for path in SAMPLES_DIR.glob(f"{FASHION_PREFIX}-*.png"):
        if _sample_name(path) == name:
            return path.read_bytes()
    raise ValueError(f"unknown sample image {name!r}; known: {', '.join(image_samples())}.")


def text_samples() -> list[str]:
    """The sample reviews, one per line of `samples/reviews.txt`."""
    return [line.strip() for line in REVIEWS_FILE.read_text(encoding="utf-8").splitlines() if line.strip()]


def write_fashion_samples(out_dir: str | Path = SAMPLES_DIR, root: str | Path | None = None) -> list[Path]:
    """Write the first Fashion-MNIST test image of each class as `fashion-mnist-<index>-<class>.png`.

    Args:
        out_dir: where to write.
        root: folder of the Fashion-MNIST IDX files (default: `load_fashion_mnist`'s).
    """
    from creditlens.attribution.data.datasets import FASHION_MNIST_CLASSES, load_fashion_mnist

    images, labels = load_fashion_mnist("test", root)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for cls, label in enumerate(FASHION_MNIST_CLASSES):
        index = int((labels == cls).nonzero()[0, 0])
        path = out / f"{FASHION_PREFIX}-{index:04d}-{_slug(label)}.png"
        Image.fromarray(images[index].numpy(), mode="L").save(path, optimize=True)
        written.append(path)
    return written


def _sample_name(path: Path) -> str:
    """`fashion-mnist-0000-ankle-boot.png` -> `Ankle boot (Fashion-MNIST test #0)`."""
    from creditlens.attribution.data.datasets import FASHION_MNIST_CLASSES

    index, slug = path.stem[len(FASHION_PREFIX) + 1 :].split("-", 1)
    label = {_slug(c): c for c in FASHION_MNIST_CLASSES}.get(slug, slug)
    return f"{label} (Fashion-MNIST test #{int(index)})"


def _slug(label: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")


def _skimage_data():
    try:
        from skimage import data
    except ImportError:
        return None
    return data


def _png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def main(argv: Sequence[str] | None = None) -> int:
    """Write the Fashion-MNIST sample images (run once; the PNGs are committed)."""
    parser = argparse.ArgumentParser(description=write_fashion_samples.__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(SAMPLES_DIR), help="folder to write to")
    parser.add_argument("--root", help="folder of the Fashion-MNIST IDX files")
    args = parser.parse_args(argv)
    for path in write_fashion_samples(args.out, args.root):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
