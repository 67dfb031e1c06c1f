"""`creditlens` end to end on the bundled models, and every user error as one line with exit status 2."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from creditlens.app.cli import build_parser, main

FASHION = ("fashion-mnist-vit", "Ankle boot")


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Four Fashion-MNIST test images as PNG files (two ankle boots, a trouser, a bag) and bad files."""
    from creditlens.attribution.data.datasets import load_fashion_mnist

    images, labels = load_fashion_mnist("test")
    folder = tmp_path_factory.mktemp("images")
    paths = {}
    for name, cls in (("boot", 9), ("boot2", 9), ("trouser", 1), ("bag", 8)):
        index = [i for i in range(len(labels)) if int(labels[i]) == cls][1 if name == "boot2" else 0]
        paths[name] = folder / f"{name}.png"
        Image.fromarray(images[index].numpy()).save(paths[name])
    bad = tmp_path_factory.mktemp("bad")
    paths["truncated"] = bad / "truncated.png"
    paths["truncated"].write_bytes(paths["boot"].read_bytes()[:60])
    paths["text"] = bad / "notes.png"
    paths["text"].write_text("not an image")
    paths["folder"] = folder
    return paths


def _run(args: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    status = main(args)
    out, err = capsys.readouterr()
    return status, out, err


def test_models_json_lists_every_model_with_status(capsys: pytest.CaptureFixture) -> None:
    status, out, _ = _run(["models", "--json"], capsys)
    rows = {r["name"]: r for r in json.loads(out)}
    assert status == 0 and len(rows) == 8
    assert (
        rows["fashion-mnist-vit"]["status"] == "ready"
        and rows["fashion-mnist-vit"]["labels"][9] == "Ankle boot"
    )
    assert rows["roberta-large-imdb"]["status"] in ("ready", "missing")


def test_start_up_leaves_timm_and_torchvision_to_the_commands_that_need_them() -> None:
    """`creditlens models` should not pay for importing timm (0.5 s) and torchvision, nor `creditlens --help` and
    `creditlens app --help` for torch and matplotlib (seconds)."""
    heavy = "{'timm', 'torchvision', 'torch', 'matplotlib'}"
    code = (
        "import sys, creditlens.app.cli as c; p = c.build_parser(sys.argv[1] if len(sys.argv) > 1 else None); "
        f"print(sorted({heavy} & {{*sys.modules}}))"
    )
    # evaluate prints its first line before it imports torch (see test_evaluation_cli.py).
    for command, expected in ((None, "[]"), ("app", "[]"), ("evaluate", "[]"), ("models", "['torch']")):
        args = [sys.executable, "-c", code] + ([command] if command else [])
        out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
        assert out.strip() == expected, command


def test_help_lists_every_subcommand_and_each_shows_its_own_options(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for name in ("explain", "models", "accuracy", "train", "train-backbone", "evaluate", "app"):
        assert f"    {name}" in out, name
    with pytest.raises(SystemExit):
        main(["accuracy", "--help"])
    assert "--data DATA" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:
        main(["explian", "--model", "fashion-mnist-vit"])
    assert exit_info.value.code == 2 and "invalid choice: 'explian'" in capsys.readouterr().err


# The arguments each subcommand requires, so that one option at a time can be parsed on its own.
REQUIRED = {
    "explain": ["--model", "m"],
    "models": [],
    "accuracy": ["--model", "m", "--data", "d"],
    "train": ["--backbone", "hf:x", "--data", "d", "--out", "o"],
    "train-backbone": ["--out", "o", "--epochs", "1"],
    "evaluate": ["--model", "m"],
    "app": [],
}


def _parse(command: str, *options: str) -> argparse.Namespace:
    return build_parser(command).parse_args([command, *REQUIRED[command], *options])


def test_every_subcommand_spells_a_shared_option_the_same_way() -> None:
    """--threads (default: torch's) wherever torch computes, --paper-dir wherever a zoo model is named,
    --lr for both trainings, --target for the class to explain."""
    for command in ("explain", "accuracy", "train", "train-backbone", "evaluate"):
        assert _parse(command).threads is None, command
        assert _parse(command, "--threads", "3").threads == 3, command
    for command in ("explain", "models", "accuracy", "evaluate"):
        assert _parse(command).paper_dir is None, command
        assert _parse(command, "--paper-dir", "heads").paper_dir == "heads", command
    for command in ("train", "train-backbone"):
        assert _parse(command, "--lr", "0.01").lr == 0.01, command
    assert _parse("explain", "--target", "Sandal").target == "Sandal"
    assert {c for c in REQUIRED if "threads" in vars(_parse(c))} == set(REQUIRED) - {"models", "app"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", *REQUIRED["train"], "--max-lr", "0.01"], "--max-lr is now --lr"),
        (["train", *REQUIRED["train"], "--max-lr=0.01"], "--max-lr is now --lr"),
        (["explain", "--model", FASHION[0], "--class", "Sandal"], "unrecognized arguments: --class"),
        (["models", "--paper-directory", "heads"], "unrecognized arguments: --paper-directory"),
    ],
)
def test_old_spellings_get_a_clear_usage_error(args, message, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and message in err and "Traceback" not in err


def test_threads_below_one_is_a_one_line_error(samples, tmp_path, capsys) -> None:
    status, _, err = _run(["explain", "--model", FASHION[0], str(samples["boot"]), "--threads", "0",
                           "--out", str(tmp_path)], capsys)  # fmt: skip
    assert status == 2 and "--threads must be at least 1, got 0" in err and len(err.strip().splitlines()) == 1


def test_paper_dir_option_is_where_models_looks(tmp_path, capsys) -> None:
    status, out, _ = _run(["models", "--json", "--paper-dir", str(tmp_path)], capsys)
    rows = {r["name"]: r for r in json.loads(out)}
    assert status == 0 and rows["beit-large-cifar10"]["status"] == "missing"
    assert f"into {tmp_path}" in rows["beit-large-cifar10"]["detail"]


def test_explain_image_writes_figures_and_a_json_summary(samples, tmp_path, capsys) -> None:
    args = ["explain", "--model", FASHION[0], str(samples["boot"]), "--out", str(tmp_path),
            "--formats", "png,svg,pdf,npz", "--json"]  # fmt: skip
    status, out, _ = _run(args, capsys)
    summary = json.loads(out)
    result = summary["results"][0]
    assert status == 0 and summary["model"] == FASHION[0]
    assert result["predictions"][0]["class"] == FASHION[1]
    assert 0.5 < result["predictions"][0]["prob"] <= 1.0
    explained = result["explained"][0]
    assert explained["class"] == FASHION[1] and len(explained["top_positions"]) == 5
    assert all(0 <= p["row"] < 7 and 0 <= p["col"] < 7 for p in explained["top_positions"])
    credits = [p["credit"] for p in explained["top_positions"]]
    assert credits == sorted(credits, reverse=True)
    files = [Path(f) for f in explained["files"]]
    assert {f.suffix for f in files} == {".png", ".svg", ".pdf", ".npz", ".json"}
    png = next(f for f in files if f.suffix == ".png")
    assert np.asarray(Image.open(png).convert("L")).min() < 100  # decodes and is not blank
    assert next(f for f in files if f.suffix == ".pdf").read_bytes().startswith(b"%PDF")


def test_explain_a_named_class_and_top3(samples, tmp_path, capsys) -> None:
    status, out, _ = _run(["explain", "--model", FASHION[0], str(samples["boot"]), "--target", "Sandal",
                           "--out", str(tmp_path), "--json"], capsys)  # fmt: skip
    assert status == 0 and [e["class"] for e in json.loads(out)["results"][0]["explained"]] == ["Sandal"]
    status, out, _ = _run(["explain", "--model", FASHION[0], str(samples["boot"]), "--target", "top3",
                           "--out", str(tmp_path), "--json"], capsys)  # fmt: skip
    result = json.loads(out)["results"][0]
    assert [e["class"] for e in result["explained"]] == [p["class"] for p in result["predictions"]]


def test_explain_a_folder_prints_a_results_table(samples, tmp_path, capsys) -> None:
    status, out, _ = _run(
        ["explain", "--model", FASHION[0], str(samples["folder"]), "--out", str(tmp_path)], capsys
    )
    lines = out.strip().splitlines()
    # First, one line on the method shown and how faithful it measured on this model.
    assert lines[0].startswith("method: contribution_lrp, ") and "deletion AUC 0.252" in lines[0]
    assert status == 0 and lines[1].split()[:2] == ["input", "prediction"]
    assert len(lines) == 6 and any("trouser.png" in line and "Trouser" in line for line in lines)


def test_explain_with_another_method_says_so(samples, tmp_path, capsys) -> None:
    args = [
        "explain",
        "--model",
        FASHION[0],
        str(samples["boot"]),
        "--out",
        str(tmp_path),
        "--method",
        "paper",
    ]
    status, out, _ = _run(args, capsys)
    assert status == 0
    assert out.splitlines()[0].startswith("method: paper, the paper's credit of phi")
    assert "this model's default is contribution_lrp" in out.splitlines()[0]
    status, out, _ = _run([*args[:-1], "contribution", "--json"], capsys)
    assert status == 0 and json.loads(out)["method"] == "contribution"
    status, _, err = _run([*args[:-1], "lime"], capsys)
    assert status == 2 and "unknown method 'lime'; valid methods: paper, contribution" in err


def test_explain_text_writes_html_with_every_token(tmp_path, capsys) -> None:
    text = "A gorgeous, witty and moving film."
    status, out, _ = _run(["explain", "--model", "rotten-tomatoes-minilm", "--text", text, "--out", str(tmp_path),
                           "--formats", "html,png", "--json"], capsys)  # fmt: skip
    result = json.loads(out)["results"][0]
    assert status == 0 and result["predictions"][0]["class"] == "positive"
    html = Path(next(f for f in result["explained"][0]["files"] if f.endswith(".html"))).read_text()
    positions = [html.find(word) for word in ("gorgeous", "witty", "moving", "film")]
    assert -1 not in positions and positions == sorted(positions)
    assert {t["token"].lower() for t in result["explained"][0]["top_positions"]} <= set(
        text.lower().replace(",", " , ").replace(".", " .").split()
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["explain", "--model", FASHION[0], "{truncated}"], "truncated.png is truncated or corrupt"),
        (["explain", "--model", FASHION[0], "{text}"], "notes.png is not an image"),
        (["explain", "--model", FASHION[0], "{boot}", "--max-pixels", "100"], "over the limit of 100"),
        (["explain", "--model", "no-such-model", "{boot}"], "unknown model 'no-such-model'"),
        (["explain", "--model", FASHION[0], "{boot}", "--target", "Hat"], "unknown class name 'Hat'"),
        (["explain", "--model", "rotten-tomatoes-minilm", "--text", "   "], "the text is empty"),
        (["explain", "--model", FASHION[0], "{boot}", "--formats", "png,gif"], "unknown format(s) gif"),
        (["accuracy", "--model", FASHION[0], "--data", "{text}"], "is not a folder"),
    ],
)
def test_user_errors_exit_2_with_one_line(samples, tmp_path, capsys, args, message) -> None:
    args = [a.format(**{k: str(v) for k, v in samples.items()}) for a in args] + ["--out", str(tmp_path)] * (
        args[0] == "explain"
    )
    status, out, err = _run(args, capsys)
    assert status == 2
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_out_that_is_a_file_or_cannot_be_written_is_one_line(samples, tmp_path, capsys) -> None:
    taken = tmp_path / "taken.txt"
    taken.write_text("a file")
    status, _, err = _run(
        ["explain", "--model", FASHION[0], str(samples["boot"]), "--out", str(taken)], capsys
    )
    assert status == 2 and f"--out {taken} is a file" in err and len(err.strip().splitlines()) == 1
    status, _, err = _run(
        ["explain", "--model", FASHION[0], str(samples["boot"]), "--out", "/proc/creditlens"], capsys
    )
    assert status == 2 and "/proc/creditlens" in err and len(err.strip().splitlines()) == 1


def test_a_batch_goes_on_past_a_corrupt_file_and_names_it(samples, tmp_path, capsys) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    for name in ("boot", "trouser", "truncated"):
        (folder / samples[name].name).write_bytes(samples[name].read_bytes())
    status, out, err = _run(["explain", "--model", FASHION[0], str(folder), "--out", str(tmp_path / "out"),
                             "--formats", "png", "--json"], capsys)  # fmt: skip
    summary = json.loads(out)
    assert status == 1  # some inputs failed; the others were explained and written
    assert [Path(r["input"]).name for r in summary["results"]] == ["boot.png", "trouser.png"]
    assert all(Path(f).is_file() for r in summary["results"] for e in r["explained"] for f in e["files"])
    assert [Path(r["input"]).name for r in summary["failed"]] == ["truncated.png"]
    assert "skipped" in err and "truncated.png is truncated or corrupt" in err


def test_texts_are_cut_at_the_limit_and_named_apart(tmp_path, capsys) -> None:
    long_text = "A gorgeous film. " * 1500  # 25,500 characters
    args = [
        "explain",
        "--model",
        "rotten-tomatoes-minilm",
        "--out",
        str(tmp_path),
        "--formats",
        "npz",
        "--json",
    ]
    status, out, err = _run([*args, "--text", long_text], capsys)
    assert status == 0 and "only the first 20,000 are explained" in err
    first = json.loads(out)["results"][0]["explained"][0]["files"]
    status, out, _ = _run([*args, "--text", "Dull and far too long."], capsys)
    second = json.loads(out)["results"][0]["explained"][0]["files"]
    assert status == 0 and not set(first) & set(second)  # the second text does not overwrite the first
    assert all(Path(f).is_file() for f in first + second)


def test_accuracy_on_a_folder_named_for_no_class_offers_folder_names_and_indices(
    samples, tmp_path, capsys
) -> None:
    (tmp_path / "Hats").mkdir()
    (tmp_path / "Hats" / "boot.png").write_bytes(samples["boot"].read_bytes())
    status, _, err = _run(["accuracy", "--model", FASHION[0], "--data", str(tmp_path)], capsys)
    assert status == 2 and "'Hats' is no class" in err and "class index (0..9)" in err
    assert "'Trouser'" in err and "T-shirt/top" not in err  # a folder cannot be named T-shirt/top


def test_accuracy_on_a_labelled_folder(samples, tmp_path, capsys) -> None:
    for name, label in (("boot", "Ankle boot"), ("boot2", "9"), ("trouser", "Trouser"), ("bag", "Bag")):
        (tmp_path / label).mkdir(exist_ok=True)
        (tmp_path / label / f"{name}.png").write_bytes(samples[name].read_bytes())
    status, out, _ = _run(["accuracy", "--model", FASHION[0], "--data", str(tmp_path), "--json"], capsys)
    result = json.loads(out)
    assert status == 0 and result["model"] == FASHION[0] and result["n"] == 4
    assert result["accuracy"] in (0.25, 0.5, 0.75, 1.0) and result["accuracy"] >= 0.75


@pytest.mark.slow
def test_torchrun_explain_splits_files_and_matches_one_process(samples, tmp_path) -> None:
    base = ["explain", "--model", FASHION[0], str(samples["folder"]), "--formats", "npz", "--json"]
    one = subprocess.run([sys.executable, "-m", "creditlens.app.cli", *base, "--out", str(tmp_path / "one")],
                         capture_output=True, text=True, check=True)  # fmt: skip
    # --standalone: a free port for the rendezvous, so a port another run holds cannot fail the launch.
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                          "-m", "creditlens.app.cli", *base, "--out", str(tmp_path / "two")],
                         capture_output=True, text=True)  # fmt: skip
    assert two.returncode == 0, two.stderr[-3000:]
    first, second = json.loads(one.stdout), json.loads(two.stdout[two.stdout.index("{") :])
    assert [r["input"] for r in first["results"]] == [r["input"] for r in second["results"]]
    assert [r["predictions"] for r in first["results"]] == [r["predictions"] for r in second["results"]]
    names = sorted(p.name for p in (tmp_path / "one").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "two").iterdir()) and len(names) == 8
    for name in names:
        if name.endswith(".npz"):
            a, b = np.load(tmp_path / "one" / name), np.load(tmp_path / "two" / name)
            # Equal up to float round-off: a batch of 2 sums in another order than one of 4.
            for k in a.files:
                np.testing.assert_allclose(a[k], b[k], rtol=1e-4, atol=1e-6, err_msg=f"{name}: {k}")
