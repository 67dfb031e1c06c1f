"""Class names of the paper's six tasks (Heinsen 2022, Section 4), and looking a class up by name or index.

ImageNet-1k names come from timm (`timm.data.ImageNetInfo`, shipped with timm, so offline), in the standard
synset order the paper's heads were trained in. CIFAR-10 and CIFAR-100 names are the datasets' own, in
their label order. IMDB and SST-2 are binary (0 negative, 1 positive); SST-5 has five levels.
"""

from __future__ import annotations

from collections.abc import Sequence

CIFAR10 = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")

CIFAR100 = tuple(
    """apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus butterfly camel
    can castle caterpillar cattle chair chimpanzee clock cloud cockroach couch crab crocodile cup dinosaur
    dolphin elephant flatfish forest fox girl hamster house kangaroo keyboard lamp lawn_mower leopard lion
    lizard lobster man maple_tree motorcycle mountain mouse mushroom oak_tree orange orchid otter palm_tree
    pear pickup_truck pine_tree plain plate poppy porcupine possum rabbit raccoon ray road rocket rose sea
    seal shark shrew skunk skyscraper snail snake spider squirrel streetcar sunflower sweet_pepper table tank
    telephone television tiger tractor train trout tulip turtle wardrobe whale willow_tree wolf woman
    worm""".split()
)

SENTIMENT2 = ("negative", "positive")

SENTIMENT5 = ("very negative", "negative", "neutral", "positive", "very positive")


def imagenet_labels() -> tuple[str, ...]:
    """The 1000 ImageNet-1k class descriptions in index order (such as `'tench, Tinca tinca'`)."""
    from timm.data import ImageNetInfo

    info = ImageNetInfo()
    return tuple(info.index_to_description(i) for i in range(info.num_classes()))


def check_labels(labels: Sequence[str], n_classes: int) -> tuple[str, ...]:
    """Return labels as a tuple after checking there is one non-empty string per class."""
    if isinstance(labels, str) or not all(isinstance(s, str) and s for s in labels):
        raise TypeError("labels must be a sequence of non-empty strings, one per class.")
    if len(labels) != n_classes:
        raise ValueError(f"got {len(labels)} labels for {n_classes} classes.")
    return tuple(labels)


def class_index(labels: Sequence[str], cls: int | str) -> int:
    """The index of a class given by index or by name.

    A name matches a label exactly; failing that, it matches case-insensitively either a whole label or
    one of its comma-separated synonyms (`'tench'` finds `'tench, Tinca tinca'`).

    Raises:
        ValueError: for an index out of range, or a name that matches no class (the message lists the valid
            names) or several classes (the message gives their indices).
    """
    n = len(labels)
    if isinstance(cls, bool) or not isinstance(cls, (int, str)):
        if hasattr(cls, "__index__"):
            cls = int(cls)  # numpy and 0-d torch integers
        else:
            raise TypeError(f"a class is an int index or a str name, got {type(cls).__name__}.")
    if isinstance(cls, int):
        if not 0 <= cls < n:
            raise ValueError(f"class index {cls} is out of range: there are {n} classes (0..{n - 1}).")
        return cls
    exact = [i for i, label in enumerate(labels) if label == cls]
    if not exact:
        key = cls.strip().lower()
        exact = [i for i, label in enumerate(labels) if key == label.lower() or key in _synonyms(label)]
    if len(exact) == 1:
        return exact[0]
    if exact:
        raise ValueError(
            f"class name {cls!r} is ambiguous: it matches classes {exact}; give an index instead."
        )
    shown = ", ".join(repr(s) for s in labels[:30])
    more = f", ... ({n} in all)" if n > 30 else ""
    raise ValueError(f"unknown class name {cls!r}; valid names: {shown}{more}.")


def _synonyms(label: str) -> list[str]:
    return [s.strip().lower() for s in label.split(",")]
