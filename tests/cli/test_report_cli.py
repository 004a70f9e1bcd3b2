import json

import lxml.html
from typer.testing import CliRunner

from landmark_tag.cli import app
from tests.helpers import gps_exif, save_photo, scene

runner = CliRunner()


def test_scan_with_report_then_report_from_csv(tmp_path, tiny_model):
    photos = tmp_path / "photos"
    save_photo(photos / "a.jpg", scene(seed=1))
    save_photo(photos / "gps.jpg", exif=gps_exif(-33.8568, 151.2153))
    (photos / "broken.jpg").write_bytes(b"\xff\xd8 not really")
    out, report = tmp_path / "tags.csv", tmp_path / "scan-report.html"
    args = ["scan", str(photos), "-m", str(tiny_model), "-o", str(out), "--workers", "0"]
    result = runner.invoke(app, [*args, "--report", str(report), "--summary-json", str(tmp_path / "s.json")])
    assert result.exit_code == 0, result.output
    assert f"report: {report} (3 rows, 2 thumbnails)" in result.output
    header = lxml.html.parse(str(report)).getroot().xpath("//header")[0].text_content()
    assert "throughput" in header and "tagged 1" in header and "failed 1" in header

    second = tmp_path / "again.html"
    result = runner.invoke(
        app,
        ["report", str(out), "-o", str(second), "--summary-json", str(tmp_path / "s.json"), "--workers", "0"],
    )
    assert result.exit_code == 0, result.output
    rate = json.loads((tmp_path / "s.json").read_text())["photos_per_second"]
    assert f"{rate:,.1f} photos/s" in lxml.html.parse(str(second)).getroot().text_content()


def test_report_errors_are_one_line(tmp_path):
    result = runner.invoke(app, ["report", str(tmp_path / "none.parquet"), "-o", str(tmp_path / "r.html")])
    assert result.exit_code == 1 and "no scan output" in result.output and "Traceback" not in result.output
    result = runner.invoke(app, ["report", str(tmp_path / "tags.txt")])
    assert result.exit_code == 1 and "--format" in result.output
