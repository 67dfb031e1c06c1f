"""Figures of a faithfulness evaluation: the mean perturbation curves of every method, one panel a protocol."""

from __future__ import annotations

from typing import TYPE_CHECKING

from matplotlib.figure import Figure

from .style import PAGE_WIDTH, finish, new_figure, paper_style

if TYPE_CHECKING:
    from creditlens.attribution.evaluation import EvaluationResult

_PANELS = {
    "image": [
        ("deletion", "fraction of patches removed", "p(class)"),
        ("insertion", "fraction of patches inserted", "p(class)"),
        ("morf", "embeddings zeroed, most relevant first", "logit"),
        ("lerf", "embeddings zeroed, least relevant first", "logit"),
        ("positive", "patches removed, most relevant first", "accuracy"),
        ("negative", "patches removed, least relevant first", "accuracy"),
    ],
    "text": [
        ("comprehensiveness", "top-k tokens removed (% of tokens)", "p(c|x) - p(c|x \\ top-k)"),
        ("sufficiency", "only top-k tokens kept (% of tokens)", "p(c|x) - p(c|top-k)"),
        ("morf", "embeddings zeroed, most relevant first", "logit"),
        ("lerf", "embeddings zeroed, least relevant first", "logit"),
    ],
}

# Panel titles that differ from the curve's name.
_TITLES = {
    "morf": "MoRF (token space)",
    "lerf": "LeRF (token space)",
    "positive": "positive perturbation",
    "negative": "negative perturbation",
}


def evaluation_curves(result: EvaluationResult) -> Figure:
    """The mean curve of every method for each protocol of the result's task (routing credit drawn thickest).

    Args:
        result: an `EvaluationResult` of `creditlens.attribution.evaluation.evaluate`.
    """
    panels = _PANELS[result.task]
    n_cols = 2 if result.task == "text" else 3
    n_rows = -(-len(panels) // n_cols)
    with paper_style():
        figure = new_figure(PAGE_WIDTH, 2.1 * n_rows + 0.4)
        axes = figure.subplots(n_rows, n_cols, squeeze=False).flatten()
        for ax, (curve, xlabel, ylabel) in zip(axes, panels):
            for method, curves in result.curves.items():
                routing = method == "routing"
                ax.plot(
                    result.curve_x[curve],
                    curves[curve],
                    label=method,
                    linewidth=2.0 if routing else 0.9,
                    zorder=3 if routing else 2,
                    marker="o" if len(curves[curve]) <= 11 else None,
                    markersize=2.5,
                )
            ax.set_title(_TITLES.get(curve, curve))
            ax.set_xlabel(xlabel)
            ax.set_ylabel(ylabel)
            ax.grid(linewidth=0.3, alpha=0.5)
        for ax in axes[len(panels) :]:
            ax.set_visible(False)
        handles, labels = axes[0].get_legend_handles_labels()
        figure.legend(handles, labels, loc="outside lower center", ncols=min(5, len(labels)), frameon=False)
        figure.suptitle(f"{result.model}: mean curves over {result.n} samples")
    return finish(figure)
