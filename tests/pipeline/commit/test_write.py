import csv
import os

import pytest

from landmark_tag.files.results import ResultRow, Status, output_format, read_results, rows_to_table
from landmark_tag.pipeline.commit.write import ResultWriter
from landmark_tag.pipeline.target import OutputTarget
from tests.helpers import result_rows as rows

COLUMNS = [
    "path", "status", "error", "gps_latitude", "gps_longitude",
    "location_latitude", "location_longitude", "location_source", "location_radius_m", "location_note",
    "place_city",
    "place_region",
    "place_country",
    "place_source",
    "named_place", "copy_of",
    "estimated_latitude", "estimated_longitude", "estimated_country",
    "landmark_1", "landmark_2", "probability_1", "probability_2", "landmark_score",
    "taken_at", "taken_local", "taken_offset", "taken_at_source", "gps_time", "camera", "picture_hashes",
    "model", "size_bytes", "modified_at", "scanned_at",
]  # fmt: skip


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_columns_and_values_round_trip(tmp_path, suffix):
    out = tmp_path / f"tags{suffix}"
    with ResultWriter(OutputTarget.at(out), k=2, rows_per_group=2) as writer:
        writer.write(rows())
    frame = read_results(out)
    assert list(frame.columns) == COLUMNS
    assert frame["status"].tolist() == ["tagged", "skipped_gps", "failed"]
    assert frame.loc[0, "landmark_1"] == "Eiffel Tower"
    assert frame.loc[0, "probability_2"] == pytest.approx(0.2)
    assert frame.loc[1, "gps_latitude"] == -33.5
    assert (frame.loc[0, "estimated_latitude"], frame.loc[0, "estimated_country"]) == (48.8584, "FR")
    assert frame["estimated_longitude"].isna().tolist() == [False, True, True]
    assert frame.loc[2, "error"] == "empty file (0 bytes)"
    assert frame["landmark_1"].isna().tolist() == [False, True, True]
    assert frame.loc[0, "modified_at"].timestamp() == pytest.approx(1_700_000_000.5)
    assert str(frame["modified_at"].dt.tz) == "UTC"


def test_interrupted_write_keeps_previous_output(tmp_path):
    out = tmp_path / "tags.parquet"
    with ResultWriter(OutputTarget.at(out), k=2) as writer:
        writer.write(rows())
    before = out.read_bytes()
    with (
        pytest.raises(KeyboardInterrupt),
        ResultWriter(OutputTarget.at(out), k=2, rows_per_group=1) as writer,
    ):
        writer.write(rows()[:1])
        raise KeyboardInterrupt
    assert out.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["tags.parquet"]


def test_format_from_suffix_or_flag():
    assert output_format("x.PARQUET") == "parquet"
    assert output_format("x.csv") == "csv"
    assert output_format("x.out", "csv") == "csv"
    with pytest.raises(ValueError, match="--format"):
        output_format("x.txt")
    with pytest.raises(ValueError, match="unknown output format"):
        output_format("x.csv", "xlsx")


def test_rows_from_an_output_without_the_estimated_columns_are_carried_over(tmp_path):
    # An output written before the estimated_* columns existed: same rows, those columns missing.
    old = rows_to_table(rows(), 2).drop_columns(
        ["estimated_latitude", "estimated_longitude", "estimated_country"]
    )
    out = tmp_path / "tags.parquet"
    with ResultWriter(OutputTarget.at(out), k=2) as writer:
        writer.write_table(old)
    frame = read_results(out)
    assert list(frame.columns) == COLUMNS
    assert frame["path"].tolist() == ["/p/a.jpg", "/p/b.jpg", "/p/c.jpg"]
    assert frame["estimated_latitude"].isna().all()
    assert frame.loc[1, "gps_latitude"] == -33.5


def test_outputs_are_readable_like_any_new_file_and_keep_their_permissions(tmp_path):
    mask = os.umask(0o027)
    try:
        out = tmp_path / "tags.csv"
        with ResultWriter(OutputTarget.at(out), k=2) as writer:
            writer.write(rows())
        assert out.stat().st_mode & 0o777 == 0o640  # not a private temp file's 0600
        out.chmod(0o604)
        with ResultWriter(OutputTarget.at(out), k=2) as writer:
            writer.write(rows())
        assert out.stat().st_mode & 0o777 == 0o604
    finally:
        os.umask(mask)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_csv_cells_never_start_a_spreadsheet_formula(tmp_path, suffix):
    hostile = ['=HYPERLINK("http://x")', "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)"]
    common = {"size_bytes": 1, "modified_at": 0.0, "scanned_at": 0.0, "model": "m"}
    rows = [
        ResultRow(f"/p/{i}.jpg", Status.TAGGED, landmarks=[name], probabilities=[0.9],
                  estimated_country=name, error=None, **common)
        for i, name in enumerate(hostile)
    ]  # fmt: skip
    out = tmp_path / f"tags{suffix}"
    with ResultWriter(OutputTarget.at(out), k=1) as writer:
        writer.write(rows)
    if suffix == ".csv":
        cells = [cell for line in out.read_text().splitlines()[1:] for cell in next(csv.reader([line]))]
        assert not any(cell.startswith(("=", "+", "-", "@")) for cell in cells)
        assert "'=HYPERLINK" in out.read_text()
    frame = read_results(out)  # read back as they were, from either format
    assert frame["landmark_1"].tolist() == hostile and frame["estimated_country"].tolist() == hostile
