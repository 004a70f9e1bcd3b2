import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from landmark_tag.cli import app
from landmark_tag.files.results import read_results
from tests.helpers import add_landmark_scorer, gps_exif, save_photo, scene, write_gpx, write_tiny_checkpoint

runner = CliRunner()


@pytest.fixture
def photos(tmp_path):
    root = tmp_path / "photos"
    save_photo(root / "a.jpg", scene(seed=1))
    save_photo(root / "b.png", scene(seed=2))
    save_photo(root / "gps.jpg", exif=gps_exif(-33.8568, 151.2153))
    (root / "broken.jpg").write_bytes(b"\xff\xd8 not really")
    return root


@pytest.mark.parametrize("suffix", ["parquet", "csv"])
def test_scan_end_to_end(tmp_path, photos, tiny_model, suffix):
    out = tmp_path / f"tags.{suffix}"
    result = runner.invoke(
        app,
        ["scan", str(photos), "--model", str(tiny_model), "--out", str(out), "--k", "2", "--workers", "0"],
    )
    assert result.exit_code == 0, result.output
    assert "scan summary" in result.output
    frame = read_results(out)
    assert sorted(frame["status"]) == ["failed", "skipped_gps", "tagged", "tagged"]
    assert "landmark_2" in frame.columns and "landmark_3" not in frame.columns


def test_min_confidence_and_write_xmp(tmp_path, photos, tiny_model):
    out = tmp_path / "tags.parquet"
    args = ["scan", str(photos), "--model", str(tiny_model), "--out", str(out), "--workers", "0"]
    result = runner.invoke(app, [*args, "--min-confidence", "0.999", "--write-xmp"])
    assert result.exit_code == 0, result.output
    assert "confidence threshold" in result.output and "XMP sidecars written" in result.output
    assert sorted(read_results(out)["status"]) == ["failed", "skipped_gps", "uncertain", "uncertain"]
    assert not list(photos.glob("*.xmp"))  # uncertain photos get no sidecar
    result = runner.invoke(app, [*args, "--full", "--min-confidence", "0", "--write-xmp"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in photos.glob("*.xmp")) == ["a.jpg.xmp", "b.png.xmp"]
    assert runner.invoke(app, [*args, "--min-confidence", "1.5"]).exit_code == 2


def test_format_flag_overrides_suffix(tmp_path, photos, tiny_model):
    out = tmp_path / "tags.out"
    args = ["scan", str(photos), "-m", str(tiny_model), "-o", str(out), "--format", "csv", "--workers", "0"]
    assert runner.invoke(app, args).exit_code == 0
    assert out.read_text().startswith("path,status,error")


def test_strict_exit_code_when_photos_failed(tmp_path, photos, tiny_model):
    args = ["scan", str(photos), "-m", str(tiny_model), "-o", str(tmp_path / "t.parquet"), "--workers", "0"]
    assert runner.invoke(app, [*args, "--strict"]).exit_code == 3


def test_no_photos_found_is_said_with_exit_code_4(tmp_path, tiny_model):
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.txt").write_text("not a photo")
    for inputs in ([tmp_path / "empty"], [tmp_path / "notes.txt"]):
        args = ["scan", *map(str, inputs), "-m", str(tiny_model), "-o", str(tmp_path / "t.parquet")]
        result = runner.invoke(app, [*args, "--workers", "0"])
        assert result.exit_code == 4, result.output
        assert "no photos found" in result.output


def test_a_refused_prune_exits_1_and_changes_nothing(tmp_path, photos, tiny_model):
    out = tmp_path / "t.parquet"
    args = ["-m", str(tiny_model), "-o", str(out), "--workers", "0"]
    assert runner.invoke(app, ["scan", str(photos), *args]).exit_code == 0
    before = out.read_bytes()
    (tmp_path / "empty").mkdir()
    result = runner.invoke(app, ["scan", str(tmp_path / "empty"), *args, "--prune"])
    assert result.exit_code == 1 and "--prune refused" in result.output and "--force-prune" in result.output
    assert out.read_bytes() == before


def test_a_damaged_checkpoint_is_one_line_and_exit_1(tmp_path, photos):
    import torch

    from landmark_tag.model.checkpoint import read_checkpoint

    model = write_tiny_checkpoint(tmp_path / "m.pt")
    payload, _ = read_checkpoint(model)
    payload["spec"]["temperature"] = 0.0
    torch.save(payload, model)
    result = runner.invoke(app, ["scan", str(photos), "-m", str(model), "-o", str(tmp_path / "t.parquet")])
    assert result.exit_code == 1 and "damaged checkpoint: its temperature is 0.0" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "t.parquet").exists()


def test_a_model_asked_for_that_is_not_there_is_one_line(tmp_path, photos):
    missing = str(tmp_path / "nowhere.pt")
    result = runner.invoke(app, ["scan", str(photos), "-m", missing, "-o", str(tmp_path / "t.parquet")])
    assert result.exit_code == 1 and missing in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "t.parquet").exists()


def test_options_that_cannot_work_here_are_clear_errors(tmp_path, photos, tiny_model):
    # Valid values, but not on this machine: the run fails (1). Invalid values exit with 2 while
    # parsing (tests/cli/test_app.py).
    result = runner.invoke(
        app, ["scan", str(photos), "-m", str(tiny_model), "-o", str(tmp_path / "t.csv"), "--device", "cpu",
              "--gpu-decode"],
    )  # fmt: skip
    assert result.exit_code == 1
    assert "(--gpu-decode) needs a CUDA GPU" in result.output


def test_missing_input_and_bad_model_file(tmp_path, tiny_model):
    result = runner.invoke(app, ["scan", str(tmp_path / "nope"), "-m", str(tiny_model)])
    assert result.exit_code == 1 and "no such file or folder" in result.output
    (tmp_path / "fake.pt").write_text("nope")
    result = runner.invoke(app, ["scan", str(tmp_path), "-m", str(tmp_path / "fake.pt")])
    assert result.exit_code == 1 and "not a landmark-tag checkpoint" in result.output


def test_console_script_without_tty_logs_plain_progress(tmp_path, photos, tiny_model):
    out = tmp_path / "tags.parquet"
    done = subprocess.run(
        [sys.executable, "-m", "landmark_tag", "scan", str(photos), "-m", str(tiny_model), "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "scanned 4/4 photos" in done.stderr
    assert len(read_results(out)) == 4


def test_summary_json_and_log_file_for_monitoring(tmp_path, photos, tiny_model):
    out, summary, log = tmp_path / "t.parquet", tmp_path / "summary.json", tmp_path / "scan.log"
    args = ["scan", str(photos), "-m", str(tiny_model), "-o", str(out), "--workers", "0"]
    assert runner.invoke(app, [*args, "--summary-json", str(summary), "--log-file", str(log)]).exit_code == 0
    data = json.loads(summary.read_text())
    assert data["processed"] == 4 and data["new"] == 4 and data["counts"]["failed"] == 1
    assert data["output_rows"] == 4
    assert "done: 4 photos" in log.read_text()
    again = runner.invoke(app, [*args, "--summary-json", str(summary)])
    assert again.exit_code == 0
    assert json.loads(summary.read_text())["unchanged"] == 3  # the failed photo was retried


def test_the_summary_says_which_runtime_ran_and_runtime_torch_is_pytorch(tmp_path, photos, tiny_model):
    summary = tmp_path / "summary.json"
    args = ["scan", str(photos), "-m", str(tiny_model), "--workers", "0", "--summary-json", str(summary)]
    default = runner.invoke(app, [*args, "-o", str(tmp_path / "a.parquet"), "--precision", "fp32"])
    assert default.exit_code == 0, default.output
    assert json.loads(summary.read_text())["device"] == "cpu (openvino fp32)"  # the CPU default
    eager = runner.invoke(app, [*args, "-o", str(tmp_path / "b.parquet"), "--runtime", "torch"])
    assert eager.exit_code == 0, eager.output
    assert json.loads(summary.read_text())["device"] in ("cpu (torch fp32)", "cpu (torch bf16)")
    a, b = read_results(tmp_path / "a.parquet"), read_results(tmp_path / "b.parquet")
    assert list(a["landmark_1"]) == list(b["landmark_1"])
    refused = runner.invoke(
        app, [*args, "-o", str(tmp_path / "c.parquet"), "--runtime", "torch", "--precision", "int8"]
    )
    assert refused.exit_code == 1 and "int8 (--precision int8) runs on the openvino runtime" in refused.output
    assert runner.invoke(app, [*args, "-o", str(tmp_path / "d.parquet"), "--runtime", "onnx"]).exit_code == 2


def test_second_scan_on_same_output_is_refused_with_exit_1(tmp_path, photos, tiny_model):
    from landmark_tag.pipeline.plan.lock import OutputLock
    from landmark_tag.pipeline.target import OutputTarget

    out = tmp_path / "t.parquet"
    with OutputLock(OutputTarget.at(str(out))):
        result = runner.invoke(app, ["scan", str(photos), "-m", str(tiny_model), "-o", str(out)])
    assert result.exit_code == 1 and "another scan is writing" in result.output


def test_bad_storage_option(tmp_path, photos, tiny_model):
    args = [
        "scan",
        str(photos),
        "-m",
        str(tiny_model),
        "-o",
        str(tmp_path / "t.csv"),
        "--storage-option",
        "nokey",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 1 and "KEY=VALUE" in result.output


def test_scan_counts_no_landmark_and_rejudges_on_a_new_threshold(tmp_path, photos, tiny_model):
    model = add_landmark_scorer(write_tiny_checkpoint(tmp_path / "m.pt"), [photos / "a.jpg"])
    out, summary = tmp_path / "tags.csv", tmp_path / "summary.json"
    args = ["scan", str(photos), "--model", str(model), "--out", str(out), "--workers", "0"]
    result = runner.invoke(app, [*args, "--summary-json", str(summary)])
    assert result.exit_code == 0, result.output
    assert "no_landmark" in result.stdout and "landmark score threshold" in result.stdout
    data = json.loads(summary.read_text())
    assert data["counts"]["no_landmark"] == 1 and data["min_landmark_score"] == 0.999
    assert dict(zip(read_results(out)["path"].str[-5:], read_results(out)["status"], strict=True)) == {
        "a.jpg": "tagged",
        "b.png": "no_landmark",
        "s.jpg": "skipped_gps",
        "n.jpg": "failed",
    }
    again = runner.invoke(app, [*args, "--min-landmark-score", "-1", "--summary-json", str(summary)])
    assert again.exit_code == 0, again.output
    assert json.loads(summary.read_text())["rejudged"] == 1
    assert "earlier rows re-judged" in again.stdout
    assert sorted(read_results(out)["status"]) == ["failed", "skipped_gps", "tagged", "tagged"]


def test_verbose_shows_the_traceback_of_an_expected_error_and_bugs_surface_as_bugs(
    tmp_path, photos, monkeypatch
):
    (tmp_path / "fake.pt").write_text("not a model")
    args = ["scan", str(photos), "-m", str(tmp_path / "fake.pt"), "-o", str(tmp_path / "t.csv")]
    quiet, verbose = runner.invoke(app, args), runner.invoke(app, [*args, "-v"])
    assert quiet.exit_code == verbose.exit_code == 1
    assert "Traceback" not in quiet.output and "Traceback" in verbose.output
    assert "not a landmark-tag checkpoint" in verbose.output.strip().splitlines()[-1]

    def broken(*args, **kwargs):
        raise ValueError("a bug, not a user error")

    monkeypatch.setattr("landmark_tag.pipeline.scan.scan", broken)
    result = runner.invoke(app, args)
    assert isinstance(result.exception, ValueError)  # not turned into one quiet line


def test_a_scan_without_a_model_locates_and_says_landmarks_are_off(tmp_path, photos, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["scan", str(photos), "-o", "t.parquet"])
    assert result.exit_code == 0, result.output
    assert "landmarks are off" in result.output and "landmarks_off" in result.output
    rows = read_results(tmp_path / "t.parquet").set_index("path")
    assert rows.loc[str(photos / "gps.jpg"), "location_source"] == "gps"
    assert set(rows["status"]) == {"landmarks_off", "skipped_gps", "failed"}


def test_the_command_line_defaults_are_scan_configs_own(tmp_path, monkeypatch):
    """One source of truth: a scan with no options runs with ScanConfig's defaults."""
    from dataclasses import asdict

    from landmark_tag.pipeline.config import ScanConfig

    captured = []

    def capture(config, progress=None, **_):
        captured.append(config)
        raise KeyboardInterrupt  # enough: the config is what this test is about

    monkeypatch.setattr("landmark_tag.pipeline.scan.scan", capture)
    out = str(tmp_path / "t.parquet")
    CliRunner().invoke(app, ["scan", str(tmp_path), "--out", out])
    expected = asdict(ScanConfig([str(tmp_path)], out))
    expected["storage_options"] = captured[0].storage_options  # from the environment, not a default
    assert asdict(captured[0]) == expected


def test_every_option_scan_config_declares_reaches_it_from_the_command_line(tmp_path, monkeypatch):
    """An option is declared once, in ScanConfig: the command line offers each, and passes each on."""
    from dataclasses import fields

    from landmark_tag.options import command_line_of
    from landmark_tag.pipeline.config import ScanConfig

    captured = []

    def capture(config, progress=None, **_):
        captured.append(config)
        raise KeyboardInterrupt

    monkeypatch.setattr("landmark_tag.pipeline.scan.scan", capture)
    args, expected = ["scan", "a", "b"], {"inputs": ["a", "b"]}
    for field in fields(ScanConfig):
        offered = command_line_of(field)
        if offered is None or not offered.flags:
            continue
        flag, default = offered.flags[0], field.default
        if isinstance(default, bool):
            flag = flag.split("/")[-1] if "/" in flag else flag
            args.append(flag)
            expected[field.name] = not default
            continue
        value = (
            next(c for c in offered.choices if c != default)
            if offered.choices
            else {
                "device": "cpu",
                "gpx_offset": "+01:00",
                "out": "x.csv",
                "min_confidence": "0.5",
                "min_landmark_score": "0.25",
            }.get(field.name, "7")
        )
        args += [flag, value]
        expected[field.name] = (value,) if field.name == "gpx" else value
    CliRunner().invoke(app, args)
    given = captured[0]
    for name, value in expected.items():
        assert str(getattr(given, name)) == str(value), name


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--gpx-offset", "+01:00"], "only applies with GPS tracks (--gpx)"),
        (["--gpx", "nowhere.gpx"], "the GPS track (--gpx) nowhere.gpx does not exist"),
        (["--places", "nowhere.csv"], "places file nowhere.csv (--places): no such file"),
    ],
)
def test_gps_track_options_that_cannot_work_are_one_line_each(
    tmp_path, photos, tiny_model, monkeypatch, args, said
):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["scan", str(photos), "-m", str(tiny_model), "-o", "t.parquet", *args])
    assert result.exit_code == 1 and said in result.output
    assert "Traceback" not in result.output and not (tmp_path / "t.parquet").exists()


@pytest.mark.parametrize("offset", ["one hour", "nan", "inf", "-inf", "99999999999", "+27777777:46:39"])
def test_a_gpx_offset_that_is_not_a_clock_offset_is_a_usage_error(tmp_path, photos, tiny_model, offset):
    args = ["scan", str(photos), "-m", str(tiny_model), "-o", str(tmp_path / "t.parquet"), "--gpx", "w.gpx"]
    result = runner.invoke(app, [*args, f"--gpx-offset={offset}"])
    assert result.exit_code == 2 and "--gpx-offset" in result.output
    assert not (tmp_path / "t.parquet").exists()


def test_the_summary_counts_locations_by_source_and_says_when_a_track_placed_nothing(
    tmp_path, photos, tiny_model
):
    out, summary = tmp_path / "t.parquet", tmp_path / "summary.json"
    far_away = tmp_path / "elsewhere.gpx"
    write_gpx(far_away, [(10.0, 10.0, 0.0), (10.001, 10.0, 60.0)])
    args = ["scan", str(photos), "-m", str(tiny_model), "-o", str(out), "--workers", "0"]
    result = runner.invoke(app, [*args, "--gpx", str(far_away), "--summary-json", str(summary)])
    assert result.exit_code == 0, result.output
    assert json.loads(summary.read_text())["locations"] == {"gps": 1}
    assert "rows located" in result.output and "by gps" in result.output and "by track" in result.output
    assert "none of the 3 photos without GPS of their own was placed on the GPS tracks" in result.output


def test_what_photos_say_is_printed_as_text_and_a_log_is_not_wrapped(tmp_path):
    from rich.console import Console

    from landmark_tag.cli.scan import print_summary
    from landmark_tag.pipeline.scan import ScanSummary

    summary = ScanSummary(
        output=str(tmp_path / "[bold]t.parquet"), model="m", device="cpu", photos=1, processed=1,
        counts={}, new=1, changed=0, retried=0, unchanged=0, removed=0, pruned=False, output_rows=1,
        ignored_files=0, elapsed_seconds=1.0,
        clocks=["[/]Cam \x1b]0;owned\x07\x1b[2J: clock +03:00:00 from UTC (from its GPS times), a long line "
                + "that a log must keep on one row " * 3],
        unreadable=["/photos/[red]x"],
    )  # fmt: skip
    log = Console(file=(path := tmp_path / "log.txt").open("w"), width=1000)
    print_summary(summary, log)  # a camera named "[/]Cam" raised MarkupError
    log.file.close()
    text = path.read_text()
    assert "\x1b" not in text and "\x07" not in text
    assert "[/]Cam ?]0;owned??[2J: clock +03:00:00" in text and "[bold]t.parquet" in text
    assert "a log must keep on one row that a log must keep on one row" in text
    assert "/photos/[red]x" in text


def test_summaries_printed_to_a_log_are_not_wrapped_at_80_columns(capsys):
    from landmark_tag.cli.app import stdout_console

    assert stdout_console().width >= 200  # pytest's captured stdout is no terminal, as a cron log
