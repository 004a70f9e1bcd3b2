import json

import pytest
from typer.testing import CliRunner

from landmark_tag.cli import app
from landmark_tag.files.results import read_results
from landmark_tag.model.checkpoint import default_model_path, load_model
from landmark_tag.runtime.portable_int8 import build_portable_int8
from landmark_tag.training import int8 as int8_module
from tests.helpers import make_image_folder, make_negatives_folder
from tests.zip_server import DATASET, ZipServer

runner = CliRunner()


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_image_folder(tmp_path_factory.mktemp("data"), classes=3, per_class=6)


@pytest.mark.cpu_isa
def test_train_scratch_seed_to_default_location_then_scan_finds_it(tmp_path, folder):
    args = ["train", "scratch", "--arch", "seed", "--data", str(folder), "--epochs", "2", "--workers", "0"]
    result = runner.invoke(app, [*args, "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "validation (best epoch)" in result.output
    assert load_model(default_model_path()).spec.arch == "seed_cnn"
    scanned = runner.invoke(app, ["scan", str(folder), "-o", str(tmp_path / "t.csv"), "--workers", "0"])
    assert scanned.exit_code == 0, scanned.output
    frame = read_results(tmp_path / "t.csv")  # every photo of the folder, tagged by that model
    assert len(frame) == 18 and frame["model"].str.startswith("seed_cnn@").all()
    evaluated = runner.invoke(app, ["evaluate", "--data", str(folder), "--workers", "0"])  # as scan: no -m
    assert evaluated.exit_code == 0 and "top-1" in evaluated.output, evaluated.output


@pytest.mark.real_weights  # the packaged EfficientNet-Lite0, whose int8 `train` builds at the end
def test_evaluate_valid_split_writes_png_and_json(tmp_path, folder, monkeypatch):
    monkeypatch.setattr(int8_module, "build_portable_int8", build_portable_int8)  # the real one
    out = tmp_path / "m.pt"
    args = [
        "train",
        "transfer",
        "--data",
        str(folder),
        "--out",
        str(out),
        "--epochs",
        "3",
        "--feature-views",
        "0",
    ]
    negatives = make_negatives_folder(tmp_path / "negatives", per_kind=1)
    trained = runner.invoke(
        app, [*args, "--workers", "0", "--valid-fraction", "0.5", "--negatives", str(negatives)]
    )
    assert trained.exit_code == 0, trained.output
    assert "default min confidence" in trained.output and "calibration: temperature" in trained.output
    assert "default min landmark score" in trained.output and "of 6 negative photos" in trained.output
    int8_lines = ("int8 check passed", "int8 check failed", "int8: not built")
    assert any(line in trained.output for line in int8_lines)
    result = runner.invoke(
        app,
        ["evaluate", "-m", str(out), "--data", str(folder), "--split", "valid", "--workers", "0",
         "--json", str(tmp_path / "m.json"), "--confusion-png", str(tmp_path / "cm.png"),
         "--negatives", str(negatives)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "top-1" in result.output and "per-class accuracy" in result.output
    assert "expected calibration error" in result.output and "risk-coverage" in result.output
    assert "<- model default" in result.output
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["photos"] == 9
    assert metrics["temperature"] == load_model(out).spec.temperature
    assert metrics["risk_coverage"][0] == {
        "threshold": 0.0,
        "coverage": 1.0,
        "accuracy": metrics["top1"],
        "photos": 9,
    }
    assert (tmp_path / "cm.png").stat().st_size > 1000
    open_set = metrics["open_set"]
    assert (open_set["landmark_photos"], open_set["negative_photos"]) == (9, 6)
    assert (
        open_set["at_model_thresholds"]["min_landmark_score"]
        == load_model(out).spec.landmark_scorer.threshold
    )
    assert (
        f"AUROC {open_set['auroc']:.3f}" in result.output and "landmark photos + negatives" in result.output
    )
    # A frozen backbone: the validation photos are in the bank, scored leave-one-out by `train`, and
    # left out again by `evaluate --split valid`, so none of them scores as its own copy (1.0).
    scorer = load_model(out).spec.landmark_scorer
    assert len(scorer.bank) == 18 and scorer.fit["validation_rows"] == [9, 18]
    assert scorer.fit["scored"] == "leave-one-out" and "each scored against the others" in trained.output
    landmark_scores = [point["landmark_tagged"] for point in open_set["sweep"]]
    assert open_set["lowest_landmark_score"] < 0.999 and min(landmark_scores) < 1.0


def test_train_errors_are_one_line(tmp_path):
    result = runner.invoke(app, ["train", "transfer", "--data", str(tmp_path / "missing")])
    assert result.exit_code == 1 and "no such folder" in result.output and "Traceback" not in result.output
    (tmp_path / "photos.zip").write_bytes(b"PK")
    result = runner.invoke(app, ["train", "transfer", "--data", str(tmp_path / "photos.zip")])
    assert result.exit_code == 1 and "is a file, not a folder" in result.output
    result = runner.invoke(app, ["train", "scratch", "--no-download", "--out", str(tmp_path / "m.pt")])
    assert result.exit_code == 1 and "--no-download" in result.output
    result = runner.invoke(app, ["train", "scratch", "--backbone", "resnet50", "--data", str(tmp_path)])
    assert result.exit_code == 1 and "apply to transfer training" in result.output


def test_data_download_command(tmp_path):
    with ZipServer(DATASET) as server:
        result = runner.invoke(app, ["data", "download", "--dest", str(tmp_path), "--url", server.url])
    assert result.exit_code == 0, result.output
    assert "dataset ready" in result.output
    assert (tmp_path / "landmark_images" / "train").is_dir()
    result = runner.invoke(
        app, ["data", "download", "--dest", str(tmp_path / "x"), "--url", "http://127.0.0.1:9/a.zip"]
    )
    assert result.exit_code == 1 and "cannot reach" in result.output


def test_evaluate_writes_files_only_where_asked(tmp_path, folder, monkeypatch):
    out = tmp_path / "m.pt"
    args = ["train", "scratch", "--arch", "seed", "--data", str(folder), "--out", str(out), "--epochs", "1"]
    assert runner.invoke(app, [*args, "--workers", "0"]).exit_code == 0
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    result = runner.invoke(app, ["evaluate", "-m", str(out), "--data", str(folder), "--workers", "0"])
    assert result.exit_code == 0, result.output
    assert list(workdir.iterdir()) == []  # no confusion_matrix.png nobody asked for


def test_every_train_option_reaches_the_training_config(monkeypatch):
    import inspect
    from dataclasses import fields

    from landmark_tag.cli import training as training_cli
    from landmark_tag.options import command_line_of
    from landmark_tag.training.config import TrainConfig

    captured = {}
    monkeypatch.setattr(training_cli, "_run_training", captured.update)
    assert runner.invoke(app, ["train", "transfer", "--negatives", "n", "--seed", "3"]).exit_code == 0
    offered = {f.name for f in fields(TrainConfig) if command_line_of(f) is not None}
    assert set(captured) == offered == set(inspect.signature(training_cli.train_command).parameters)
    config = TrainConfig(**captured)
    assert (config.kind, config.negatives, config.seed) == ("transfer", ["n"], 3)
