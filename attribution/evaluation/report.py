"""An evaluation as a table (Markdown and CSV) and as JSON, with the protocol written above the table."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from .run import LOWER_IS_BETTER, EvaluationResult

IMAGE_METRICS = (
    "deletion_auc",
    "insertion_auc",
    "positive_perturbation",
    "negative_perturbation",
    "morf_lerf_area",
)
TEXT_METRICS = ("comprehensiveness", "sufficiency", "morf_lerf_area")
SANITY_METRICS = ("randomisation_spearman", "randomisation_pass", "class_selectivity", "ms_per_sample")


def metric_names(result: EvaluationResult) -> list[str]:
    """The table's columns: the task's faithfulness metrics, then the MoRF/LeRF areas, then the checks."""
    faithfulness = IMAGE_METRICS if result.task == "image" else TEXT_METRICS
    return [*faithfulness, "morf_auc", "lerf_auc", *SANITY_METRICS]


def to_markdown(result: EvaluationResult) -> str:
    """The results as a Markdown table, each column headed by its metric and whether lower or higher wins."""
    names = metric_names(result)
    header = [f"{n} {'↓' if n in LOWER_IS_BETTER else '↑'}" if n not in SANITY_METRICS else n for n in names]
    lines = ["| method | " + " | ".join(header) + " |", "|---|" + "---:|" * len(names)]
    for method, scores in result.results.items():
        lines.append(f"| {method} | " + " | ".join(_cell(scores[n]) for n in names) + " |")
    return "\n".join(lines) + "\n"


def to_csv(result: EvaluationResult) -> str:
    """The results as CSV: one row per method, one column per metric (full precision)."""
    names = metric_names(result)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["model", "n", "method", *names])
    for method, scores in result.results.items():
        writer.writerow([result.model, result.n, method, *(scores[n] for n in names)])
    return buffer.getvalue()


def protocol_text(result: EvaluationResult) -> str:
    """Every protocol parameter, one per line."""
    lines = [f"{result.model}: {result.n} samples ({result.task})"]
    for key, value in result.protocol.items():
        if isinstance(value, dict):
            lines.append(f"{key}:")
            lines += [f"  {k}: {v}" for k, v in value.items()]
        else:
            lines.append(f"{key}: {value}")
    return "\n".join(lines) + "\n"


def write_report(result: EvaluationResult, out_dir: str | Path) -> list[Path]:
    """Write `results.md` (protocol and table), `results.csv` and `results.json` into `out_dir`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "results.md": f"# Faithfulness of {result.model}\n\n```\n{protocol_text(result)}```\n\n"
        + to_markdown(result),
        "results.csv": to_csv(result),
        "results.json": json.dumps(result.to_json(), indent=1) + "\n",
    }
    for name, text in files.items():
        (out / name).write_text(text, encoding="utf-8")
    return [out / name for name in files]


def _cell(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)
