"""Raw credit: one sample's credit for one class with everything needed to redraw its figures, no model.

A `RawCredit` holds the end-to-end credit (Heinsen 2022, Appendix A) of every position at every depth,
`[n_pos, d_depth]`, for one class, the scores of all classes, and what each position is: a prefix token or a
patch of the grid (images), or a token with its text and character offsets (texts). `raw_io.py` stores it as
`.npz` plus a JSON sidecar.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
from numpy.typing import ArrayLike
from PIL import Image

from ._arrays import as_array
from .images import to_uint8
from .style import figure_title

if TYPE_CHECKING:
    from creditlens.attribution import Explanation

Kind = Literal["image", "text"]


@dataclass(frozen=True, eq=False)
class RawCredit:
    """One sample's credit for one class, and what each position is.

    Attributes:
        kind: `"image"` or `"text"`.
        model: the model's name ("" if unnamed).
        labels: the `n_classes` class names.
        cls: index of the explained class.
        scores: `[n_classes]` class scores (logits).
        credit: `[n_pos, d_depth]` credit of each position at each depth for class `cls`.
        depths: the name of each depth (0 is the embedding output).
        num_prefix_tokens: images: class, distillation and register tokens before the patches.
        grid_size: images: `(rows, cols)` of the patch grid; the patches follow the prefix row by row.
        text: texts: the input text.
        tokens: texts: the tokenizer's string of each position (padding removed).
        offsets: texts: `[n_pos, 2]` character span of each token in `text` (`(0, 0)` on special tokens).
        special: texts: `[n_pos]` bool, True on special tokens.
        image: images, optional: the input image `[H, W, 3]` uint8, for overlays.
        method: the explanation method that made the credit (`Classifier.explain`'s `method`), "" if unknown.
    """

    kind: Kind
    model: str
    labels: tuple[str, ...]
    cls: int
    scores: np.ndarray
    credit: np.ndarray
    depths: tuple[int | str, ...]
    num_prefix_tokens: int = 0
    grid_size: tuple[int, int] | None = None
    text: str = ""
    tokens: tuple[str, ...] = ()
    offsets: np.ndarray | None = None
    special: np.ndarray | None = None
    image: np.ndarray | None = None
    method: str = ""

    def __post_init__(self) -> None:
        # Accept lists and tensors: store plain numpy arrays of fixed dtypes (frozen, hence __setattr__).
        object.__setattr__(self, "scores", as_array(self.scores, ndim=1, name="scores"))
        object.__setattr__(self, "credit", as_array(self.credit, ndim=2, name="credit"))
        if self.offsets is not None:
            object.__setattr__(self, "offsets", np.asarray(self.offsets, dtype=np.int64).reshape(-1, 2))
        if self.special is not None:
            object.__setattr__(self, "special", np.asarray(self.special, dtype=bool))
        if self.image is not None:
            object.__setattr__(self, "image", to_uint8(self.image))
        n_pos, n_depth = self.credit.shape
        if len(self.labels) != self.scores.shape[-1] or not 0 <= self.cls < len(self.labels):
            raise ValueError(
                f"cls={self.cls} and {self.scores.shape[-1]} scores for {len(self.labels)} labels."
            )
        if len(self.depths) != n_depth:
            raise ValueError(f"got {len(self.depths)} depth names for credit of {n_depth} depths.")
        if self.kind == "image":
            rows, cols = self.grid_size or (0, 0)
            if self.num_prefix_tokens + rows * cols != n_pos:
                raise ValueError(
                    f"{self.num_prefix_tokens} prefix tokens and a {rows}x{cols} grid != {n_pos}."
                )
        elif self.kind == "text":
            if not len(self.tokens) == len(self.offsets) == len(self.special) == n_pos:
                raise ValueError(
                    f"texts need tokens, offsets and special flags for each of {n_pos} positions."
                )
        else:
            raise ValueError(f"kind must be 'image' or 'text', got {self.kind!r}.")

    @property
    def probs(self) -> np.ndarray:
        """`[n_classes]` class probabilities (softmax of the scores)."""
        shifted = np.exp(self.scores - self.scores.max())
        return shifted / shifted.sum()

    @property
    def label(self) -> str:
        """The explained class's name."""
        return self.labels[self.cls]

    @property
    def title(self) -> str:
        """Figure title: model, class and probability, such as `"vit — Ankle boot (p = 97.0%)"`."""
        return figure_title(self.model, self.label, float(self.probs[self.cls]), self.method)

    @property
    def hidden(self) -> np.ndarray:
        """`[n_pos]` bool, True on positions figures leave out (prefix tokens, special tokens)."""
        if self.kind == "image":
            hidden = np.zeros(self.credit.shape[0], dtype=bool)
            hidden[: self.num_prefix_tokens] = True
            return hidden
        return np.asarray(self.special, dtype=bool)

    def patch_credit(self) -> np.ndarray:
        """Images: `[rows * cols, d_depth]` credit of each patch (raster order) at each depth."""
        self._need("image")
        return self.credit[self.num_prefix_tokens :]

    def grid(self, *, per_depth: bool = False) -> np.ndarray:
        """Images: the credit laid out as the patch grid, `[rows, cols]` summed over depths, or per depth
        `[d_depth, rows, cols]`.
        """
        patches = self.patch_credit()  # [pl]
        if per_depth:
            return patches.T.reshape(-1, *self.grid_size)  # [lrc]
        return patches.sum(axis=-1).reshape(self.grid_size)  # [rc]

    def token_strings(self) -> list[str]:
        """Texts: what to show for each token: its characters in the text, or the token itself if special."""
        self._need("text")
        shown = []
        for token, (start, end), special in zip(self.tokens, self.offsets.tolist(), self.special):
            piece = self.text[start:end].strip()
            shown.append(token if special or not piece else piece)
        return shown

    def token_gaps(self) -> list[bool]:
        """Texts: per token, True if a space comes before it in the text (False joins pieces of a word)."""
        self._need("text")
        gaps = []
        previous_end = 0
        after_special = True
        for (start, end), special in zip(self.offsets.tolist(), self.special):
            spaced = start > previous_end or self.text[start:end][:1].isspace()
            gaps.append(bool(special) or after_special or spaced)
            after_special = bool(special)
            previous_end = previous_end if special else end
        return gaps

    def sentences(self) -> list[str]:
        """Texts: the sentences of the text (the rule of `creditlens.attribution.split_sentences`)."""
        from creditlens.attribution import split_sentences

        self._need("text")
        return [self.text[start:end] for start, end in split_sentences(self.text)]

    def per_sentence(self) -> np.ndarray:
        """Texts: `[n_sentences]` credit of each sentence, summed over its tokens and their depths.

        A token belongs to the last sentence that starts at or before its first character, as in
        `TextExplanation.per_sentence`; special tokens belong to none.
        """
        from creditlens.attribution import split_sentences

        self._need("text")
        starts = np.array([start for start, _ in split_sentences(self.text)], dtype=np.int64)  # [s]
        if not len(starts):
            return np.zeros(0)
        index = np.clip(np.searchsorted(starts, self.offsets[:, 0], side="right") - 1, 0, None)  # [p]
        keep = ~self.hidden  # [p]
        return np.bincount(index[keep], weights=self.credit.sum(axis=-1)[keep], minlength=len(starts))  # [s]

    def _need(self, kind: Kind) -> None:
        if self.kind != kind:
            raise ValueError(f"this view is for {kind} credit; this RawCredit holds {self.kind} credit.")


def raw_credit(
    explanation: Explanation,
    sample: int = 0,
    cls: int | str | None = None,
    *,
    model: str = "",
    image: ArrayLike | Image.Image | None = None,
) -> RawCredit:
    """The raw credit of one sample of an `ImageExplanation` or `TextExplanation` for one class.

    Args:
        explanation: from `Classifier.explain`.
        sample: which sample of the batch.
        cls: the class, by index or name. Default: the sample's predicted class.
        model: the model's name, for titles.
        image: images: the sample's input image (or the whole batch `[B, C, H, W]`), kept for overlays.

    Returns:
        A `RawCredit`; for texts, padding positions are dropped.
    """
    from creditlens.attribution import PatchPositions

    index = int(explanation.predicted[sample]) if cls is None else explanation.class_index(cls)
    credit = explanation.credit_of(index)[sample].detach().cpu().double().numpy()  # [pl]
    common = {
        "model": model,
        "labels": tuple(explanation.labels),
        "cls": index,
        "scores": explanation.scores[sample].detach().cpu().double().numpy(),
        "depths": tuple(range(credit.shape[1])),
        "method": explanation.method,
    }
    positions = explanation.positions
    if isinstance(positions, PatchPositions):
        if image is not None and np.ndim(image) == 4 and np.shape(image)[0] > 1:
            image = image[sample]
        grid = tuple(positions.grid_size)
        prefix = positions.num_prefix_tokens
        return RawCredit(
            "image", credit=credit, num_prefix_tokens=prefix, grid_size=grid, image=image, **common
        )
    keep = ~positions.pad_mask[sample].cpu().numpy()  # [p]
    return RawCredit(
        "text",
        credit=credit[keep],
        text=positions.texts[sample],
        tokens=tuple(t for t, k in zip(positions.tokens[sample], keep) if k),
        offsets=positions.offsets[sample].cpu().numpy()[keep],
        special=positions.special_mask[sample].cpu().numpy()[keep],
        **common,
    )
