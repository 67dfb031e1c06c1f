"""Data for training and evaluating: the bundled models' data sets, a user's labelled files, image files.

`datasets` reads Fashion-MNIST and Rotten Tomatoes offline; `userdata` reads a folder of images or a CSV of
texts into `LabelledData`; `image_files` opens an image file within a size limit.
"""

from .datasets import FASHION_MNIST_CLASSES, fashion_mnist_splits, load_fashion_mnist, rotten_tomatoes_splits
from .image_files import MAX_PIXELS, ImageError, open_image
from .userdata import IMAGE_SUFFIXES, LabelledData, load_image_folder, load_text_csv

__all__ = [
    "FASHION_MNIST_CLASSES",
    "IMAGE_SUFFIXES",
    "MAX_PIXELS",
    "ImageError",
    "LabelledData",
    "fashion_mnist_splits",
    "load_fashion_mnist",
    "load_image_folder",
    "load_text_csv",
    "open_image",
    "rotten_tomatoes_splits",
]
