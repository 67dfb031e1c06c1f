"""`creditlens evaluate` end to end on both bundled models: JSON, table, CSV, curves, and clear errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from creditlens.app.cli import main
from creditlens.app.commands_evaluate import METHOD_NAMES
from creditlens.attribution.evaluation import IMAGE_PROTOCOL, METHODS
from creditlens.attribution.evaluation.run import EvaluationResult
from creditlens.viz.evaluation_figures import evaluation_curves


def _run(args: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    status = main(args)
    out, err = capsys.readouterr()
    return status, out, err


def test_evaluate_vision_model_writes_json_table_csv_and_curves(tmp_path: Path, capsys):
    args = ["evaluate", "--model", "fashion-mnist-vit", "--limit", "6", "--batch-size", "3"]
    args += [
        "--methods",
        "routing,random,edges",
        "--sanity-samples",
        "3",
        "--json",
        "--out",
        str(tmp_path),
    ]
    status, out, err = _run(args, capsys)
    assert status == 0, err
    result = json.loads(out)
    assert (result["model"], result["n"]) == ("fashion-mnist-vit", 6)
    assert list(result["results"]) == ["routing", "random", "edges"]
    for key, value in IMAGE_PROTOCOL.items():
        assert result["protocol"][key] == value  # every protocol parameter travels with the scores
    assert result["protocol"]["command"].startswith("creditlens evaluate --model fashion-mnist-vit")
    routing = result["results"]["routing"]
    assert 0.0 <= routing["deletion_auc"] <= 1.0 and 0.0 <= routing["insertion_auc"] <= 1.0
    assert result["results"]["edges"]["randomisation_pass"] is False  # the edge map ignores the model
    assert len(result["curves"]["routing"]["deletion"]) == 49 + 1  # one patch per step
    rows = list(csv.DictReader((tmp_path / "results.csv").open()))
    assert [r["method"] for r in rows] == ["routing", "random", "edges"]
    assert float(rows[0]["deletion_auc"]) == pytest.approx(routing["deletion_auc"])
    table = (tmp_path / "results.md").read_text()
    assert "| routing |" in table and "deletion_auc ↓" in table and "insertion_auc ↑" in table
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "curves.pdf").read_bytes()[:4] == b"%PDF"


def test_evaluate_text_model_prints_protocol_and_table(capsys):
    args = ["evaluate", "--model", "rotten-tomatoes-minilm", "--limit", "4", "--sanity-samples", "2"]
    status, out, err = _run([*args, "--methods", "routing,random, rollout"], capsys)
    assert status == 0, err
    assert "comprehensiveness:" in out and "sufficiency:" in out  # the protocol, then the table
    assert "| method | comprehensiveness ↑ | sufficiency ↓ |" in out
    assert "| rollout |" in out
    # Progress at once: a line on what is being loaded, before the model and data load (seconds), then the
    # bar, drawn at 0 before the first batch is done.
    first = "creditlens evaluate: loading rotten-tomatoes-minilm and the first 4 samples of the held-out test"
    assert err.startswith(first)
    assert err.index("evaluating rotten-tomatoes-minilm:   0%") < err.index(
        "evaluating rotten-tomatoes-minilm: 100%"
    )


def test_evaluate_names_the_methods_of_the_evaluation() -> None:
    """The method names that `evaluate` checks before importing torch are those the evaluation runs."""
    assert METHOD_NAMES == tuple(METHODS)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "beit-large-imagenet1k"], "without --data, evaluate runs on the bundled models"),
        (["--model", "fashion-mnist-vit", "--methods", ","], "unknown method ''"),
        (["--model", "fashion-mnist-vit", "--limit", "0"], "--limit must be at least 1"),
        (["--model", "fashion-mnist-vit", "--methods", "lime"], "unknown method 'lime'"),
        (["--model", "rotten-tomatoes-minilm", "--methods", "gradcam"], "does not apply to text"),
    ],
)
def test_evaluate_user_errors_are_one_line(args, message, capsys):
    status, out, err = _run(["evaluate", *args], capsys)
    assert status == 2
    assert message in err and "Traceback" not in err


def test_evaluate_on_your_own_image_folder(tmp_path: Path, capsys):
    from PIL import Image

    from creditlens.attribution.data.datasets import load_fashion_mnist

    images, labels = load_fashion_mnist("test")
    for i in range(4):
        folder = tmp_path / "data" / str(int(labels[i]))
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(images[i].numpy()).save(folder / f"{i}.png")
    args = ["evaluate", "--model", "fashion-mnist-vit", "--data", str(tmp_path / "data"), "--limit", "3"]
    status, out, err = _run(
        [*args, "--methods", "contribution_lrp,random", "--sanity-samples", "2", "--json"], capsys
    )
    assert status == 0, err
    result = json.loads(out)
    assert result["n"] == 3 and list(result["results"]) == ["contribution_lrp", "random"]
    assert result["protocol"]["data"].startswith(str(tmp_path / "data"))


def test_evaluate_on_your_own_csv_of_texts(tmp_path: Path, capsys):
    data = tmp_path / "reviews.csv"
    data.write_text("text,label\nA warm and funny film.,positive\nDull and far too long.,negative\n")
    args = ["evaluate", "--model", "rotten-tomatoes-minilm", "--data", str(data), "--methods", "contribution"]
    status, out, err = _run([*args, "--sanity-samples", "2", "--json"], capsys)
    assert status == 0, err
    result = json.loads(out)
    assert result["n"] == 2 and "comprehensiveness" in result["results"]["contribution"]


def test_curves_figure_has_a_panel_per_protocol_and_a_line_per_method():
    x = [0.0, 0.5, 1.0]
    curves = {m: {c: [1.0, 0.5, 0.0] for c in ("deletion", "insertion", "morf", "lerf")} for m in ("a", "b")}
    for m in curves:
        curves[m] |= {"positive": [1.0] * 10, "negative": [1.0] * 10}
    result = EvaluationResult("toy", "image", 3, {}, {}, curves, {c: x for c in curves["a"]})
    result.curve_x["positive"] = result.curve_x["negative"] = [i / 10 for i in range(10)]
    figure = evaluation_curves(result)
    visible = [ax for ax in figure.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == [
        "deletion",
        "insertion",
        "MoRF (token space)",
        "LeRF (token space)",
        "positive perturbation",
        "negative perturbation",
    ]
    assert all(len(ax.get_lines()) == 2 for ax in visible)
