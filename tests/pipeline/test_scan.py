import os
from pathlib import Path

import pandas as pd
import pytest
import torch

from landmark_tag.errors import ConfigError
from landmark_tag.files.discover import InputNotFoundError
from landmark_tag.files.results import read_results
from landmark_tag.host.process import default_threads
from landmark_tag.model.checkpoint import ModelNotFoundError, load_model
from landmark_tag.pipeline.execute.predict import Predictor, predict_landmarks
from landmark_tag.pipeline.scan import ScanConfig, scan
from tests.helpers import (
    TINY_PLACES,
    capture_exif,
    gps_exif,
    jpeg_bytes,
    make_predictor,
    save_photo,
    scene,
    write_tiny_checkpoint,
)


@pytest.fixture
def photo_tree(tmp_path):
    root = tmp_path / "photos"
    for i in range(5):
        save_photo(root / "trip" / f"img_{i}.jpg", scene(seed=i), quality=90)
    save_photo(root / "located.jpg", exif=gps_exif(41.8902, 12.4922))
    save_photo(root / "mode_l.png", scene(seed=7).convert("L"))
    (root / "zero.jpg").write_bytes(b"")
    (root / "notes.txt").write_text("not a photo")
    data = jpeg_bytes(scene((600, 400)), quality=90)
    (root / "trip" / "truncated.jpg").write_bytes(data[: len(data) // 3])
    return root


@pytest.mark.parametrize("workers", [0, 2])
def test_scan_writes_one_row_per_photo(tmp_path, photo_tree, tiny_model, workers):
    out = tmp_path / "tags.parquet"
    # A batch size that puts good and bad photos in the same batch.
    summary = scan(
        ScanConfig([str(photo_tree)], str(out), model=str(tiny_model), workers=workers, batch_size=4)
    )
    frame = read_results(out).set_index("path")
    assert len(frame) == summary.photos == 9
    statuses = {os.path.relpath(p, photo_tree): s for p, s in frame["status"].items()}
    assert statuses == {
        "located.jpg": "skipped_gps",
        "mode_l.png": "tagged",
        "zero.jpg": "failed",
        "trip/img_0.jpg": "tagged",
        "trip/img_1.jpg": "tagged",
        "trip/img_2.jpg": "tagged",
        "trip/img_3.jpg": "tagged",
        "trip/img_4.jpg": "tagged",
        "trip/truncated.jpg": "failed",
    }
    assert summary.counts == {
        "tagged": 6,
        "uncertain": 0,
        "no_landmark": 0,
        "skipped_gps": 1,
        "landmarks_off": 0,
        "failed": 2,
    }
    assert summary.ignored_files == 1
    located = frame.loc[str(photo_tree / "located.jpg")]
    assert located["gps_latitude"] == pytest.approx(41.8902, abs=1e-5)
    assert pd.isna(located["landmark_1"])
    tagged = frame[frame["status"] == "tagged"]
    assert (tagged["probability_1"] >= tagged["probability_2"]).all()
    assert (tagged["probability_2"] >= tagged["probability_3"]).all()
    assert tagged["landmark_1"].notna().all()
    assert frame["model"].unique().tolist() == [load_model(tiny_model).name]


@pytest.mark.cpu_isa
def test_scan_matches_single_image_predictions(tmp_path, photo_tree, tiny_model):
    out = tmp_path / "tags.csv"
    scan(ScanConfig([str(photo_tree / "trip")], str(out), model=str(tiny_model), workers=0, k=2))
    frame = read_results(out).set_index("path")
    for prediction in predict_landmarks([str(photo_tree / "trip" / "img_3.jpg")], k=2, model=tiny_model):
        row = frame.loc[prediction.path]
        assert row["landmark_1"] == prediction.guesses[0].landmark
        assert row["probability_1"] == pytest.approx(prediction.guesses[0].probability, rel=1e-5)


def test_include_gps_tags_located_photos_too(tmp_path, photo_tree, tiny_model):
    out = tmp_path / "tags.parquet"
    scan(
        ScanConfig(
            [str(photo_tree / "located.jpg")], str(out), model=str(tiny_model), include_gps=True, workers=0
        )
    )
    row = read_results(out).iloc[0]
    assert row["status"] == "tagged"
    assert row["gps_latitude"] == pytest.approx(41.8902, abs=1e-5)
    assert not pd.isna(row["landmark_1"])


def test_include_gps_on_an_existing_output_tags_the_rows_it_had_skipped(tmp_path, photo_tree, tiny_model):
    out = tmp_path / "tags.parquet"
    config = ScanConfig([str(photo_tree)], str(out), model=str(tiny_model), workers=0)
    scan(config)
    located = str(photo_tree / "located.jpg")
    assert read_results(out).set_index("path").loc[located, "status"] == "skipped_gps"
    config.include_gps = True
    summary = scan(config)
    assert summary.processed == summary.retried == 1 + summary.counts["failed"]  # and the failed again
    assert read_results(out).set_index("path").loc[located, "status"] == "tagged"


def test_the_same_tree_through_a_symlink_is_the_same_rows(tmp_path, photo_tree, tiny_model):
    out = tmp_path / "tags.parquet"
    os.symlink(photo_tree, tmp_path / "alias")
    first = scan(ScanConfig([str(photo_tree)], str(out), model=str(tiny_model), workers=0))
    again = scan(ScanConfig([str(tmp_path / "alias")], str(out), model=str(tiny_model), workers=0))
    assert (again.new, again.removed) == (0, 0)
    assert len(read_results(out)) == first.output_rows


def test_rows_of_another_model_are_kept_with_a_warning_that_says_how_to_rescan(
    tmp_path, photo_tree, tiny_model, caplog
):
    out = tmp_path / "tags.parquet"
    scan(ScanConfig([str(photo_tree)], str(out), model=str(tiny_model), workers=0))
    other = write_tiny_checkpoint(tmp_path / "other.pt", seed=5)
    save_photo(photo_tree / "new.jpg", scene(seed=77))
    summary = scan(ScanConfig([str(photo_tree)], str(out), model=str(other), workers=0))
    assert summary.new == 1
    warning = next(r.getMessage() for r in caplog.records if "another model" in r.getMessage())
    assert "landmark_cnn@" in warning and "--full" in warning


def test_an_output_that_is_a_folder_is_refused_before_any_work(tmp_path, photo_tree, tiny_model):
    (tmp_path / "tags.parquet").mkdir()
    with pytest.raises(ConfigError, match="is a folder"):
        scan(ScanConfig([str(photo_tree)], str(tmp_path / "tags.parquet"), model=str(tiny_model)))


def test_file_vanishing_after_discovery_fails_only_that_photo(tmp_path, photo_tree, tiny_model):
    victim = photo_tree / "trip" / "img_2.jpg"

    class DeleteOnStart:
        def start(self, total):
            victim.unlink()

        def advance(self, photos):
            pass

    out = tmp_path / "tags.parquet"
    summary = scan(ScanConfig([str(photo_tree)], str(out), model=str(tiny_model), workers=0), DeleteOnStart())
    frame = read_results(out).set_index("path")
    assert frame.loc[str(victim), "status"] == "failed"
    assert "file not found" in frame.loc[str(victim), "error"]
    assert summary.counts["tagged"] == 5


def test_missing_model_and_input_fail_before_writing(tmp_path, photo_tree, tiny_model):
    out = tmp_path / "tags.parquet"
    with pytest.raises(ModelNotFoundError):  # a model asked for by name must be there
        scan(ScanConfig([str(photo_tree)], str(out), model=str(tmp_path / "nowhere.pt")))
    with pytest.raises(InputNotFoundError):
        scan(ScanConfig([str(tmp_path / "nowhere")], str(out), model=str(tiny_model)))
    assert not out.exists()
    assert list(tmp_path.glob(".tags.parquet*")) == []


def test_empty_tree_writes_empty_output(tmp_path, tiny_model):
    (tmp_path / "empty").mkdir()
    out = tmp_path / "tags.csv"
    summary = scan(ScanConfig([str(tmp_path / "empty")], str(out), model=str(tiny_model), workers=0))
    assert summary.photos == 0
    assert len(read_results(out)) == 0


@pytest.fixture(scope="module")
def placed_model(tmp_path_factory):
    return write_tiny_checkpoint(tmp_path_factory.mktemp("placed") / "placed.pt", places=TINY_PLACES)


def test_accepted_photos_get_the_place_of_their_landmark(tmp_path, photo_tree, placed_model):
    out = tmp_path / "tags.parquet"
    first = scan(ScanConfig([str(photo_tree)], str(out), model=str(placed_model), workers=0))
    frame = read_results(out)
    places = {place.name: place for place in TINY_PLACES.values()}
    tagged = frame[frame["status"] == "tagged"]
    assert first.min_confidence == 0.0 and len(tagged) == 6
    for _, row in tagged.iterrows():
        place = places.get(row["landmark_1"])
        if place is None:  # the class without a place
            assert row["landmark_1"] == "Grey Tower" and pd.isna(row["estimated_latitude"])
        else:
            assert (row["estimated_latitude"], row["estimated_longitude"]) == (
                place.latitude,
                place.longitude,
            )
            assert row["estimated_country"] == place.country
    assert frame[frame["status"] != "tagged"]["estimated_latitude"].isna().all()

    # A threshold between the photos' top-1 probabilities splits them into tagged and uncertain.
    threshold = float(tagged["probability_1"].median())
    second = scan(
        ScanConfig(
            [str(photo_tree)], str(tmp_path / "t2.parquet"), model=str(placed_model), min_confidence=threshold
        )
    )
    frame = read_results(tmp_path / "t2.parquet")
    uncertain = frame[frame["status"] == "uncertain"]
    assert second.min_confidence == threshold
    assert 0 < len(uncertain) < 6 and second.counts["uncertain"] == len(uncertain)
    assert (uncertain["probability_1"] < threshold).all()
    assert uncertain["landmark_1"].notna().all() and uncertain["estimated_latitude"].isna().all()
    assert (frame[frame["status"] == "tagged"]["probability_1"] >= threshold).all()


def test_the_threshold_stored_in_the_model_is_the_default(tmp_path, photo_tree):
    model = write_tiny_checkpoint(tmp_path / "strict.pt", places=TINY_PLACES, min_confidence=0.999)
    summary = scan(ScanConfig([str(photo_tree)], str(tmp_path / "t.parquet"), model=str(model), workers=0))
    assert summary.counts["uncertain"] == 6 and summary.counts["tagged"] == 0
    relaxed = scan(
        ScanConfig(
            [str(photo_tree)], str(tmp_path / "r.parquet"), model=str(model), workers=0, min_confidence=0
        )
    )
    assert relaxed.counts["tagged"] == 6


def test_write_xmp_writes_sidecars_for_tagged_photos_only(tmp_path, photo_tree, placed_model):
    before = {p: p.read_bytes() for p in photo_tree.rglob("*") if p.is_file()}
    config = ScanConfig(
        [str(photo_tree)], str(tmp_path / "t.parquet"), model=str(placed_model), write_xmp=True
    )
    summary = scan(config)
    frame = read_results(tmp_path / "t.parquet").set_index("path")
    sidecars = sorted(photo_tree.rglob("*.xmp"))
    tagged = sorted(frame.index[frame["status"] == "tagged"])
    assert [str(s)[: -len(".xmp")] for s in sidecars] == tagged
    assert (summary.sidecars.written, summary.sidecars.failed) == (6, 0)
    for sidecar in sidecars:
        content = sidecar.read_bytes().decode()
        assert frame.loc[str(sidecar)[: -len(".xmp")], "landmark_1"] in content
    assert {p: p.read_bytes() for p in before} == before  # photos untouched
    # Scanning again with --full rewrites nothing: the sidecars already say the same.
    config.full = True
    assert scan(config).sidecars.unchanged == 6


def test_inference_threads_are_set_for_the_scan_and_put_back(tmp_path, photo_tree, tiny_model, monkeypatch):
    threads_during = []
    real_submit = Predictor.submit

    def recording_submit(self, pixels):
        threads_during.append(torch.get_num_threads())
        return real_submit(self, pixels)

    monkeypatch.setattr(Predictor, "submit", recording_submit)
    before = torch.get_num_threads()
    out = str(tmp_path / "t.parquet")
    scan(ScanConfig([str(photo_tree)], out, model=str(tiny_model), workers=0, threads=1))
    assert threads_during and set(threads_during) == {1}
    assert torch.get_num_threads() == before
    assert default_threads(torch.device("cpu")) == max(1, (os.cpu_count() or 1) // 2)


def test_a_file_name_that_is_not_utf8_is_tagged_and_kept(tmp_path, tiny_model):
    root = tmp_path / "photos"
    save_photo(root / "plain.jpg", scene(seed=1))
    latin1 = os.path.join(os.fsencode(root), b"caf\xe9.jpg")  # as an old camera or share names it
    with open(latin1, "wb") as handle:
        handle.write(jpeg_bytes(scene(seed=2)))
    out = tmp_path / "tags.parquet"
    config = ScanConfig([str(root)], str(out), model=str(tiny_model), workers=0)
    first = scan(config)
    assert first.counts["tagged"] == 2
    frame = read_results(out).set_index("path")
    assert frame.loc[str(root / "caf\\xe9.jpg"), "status"] == "tagged"  # the byte, escaped
    again = scan(config)  # matched again: nothing to redo
    assert again.processed == 0 and again.unchanged == 2 and again.removed == 0


def test_photos_that_would_decode_to_too_many_pixels_fail_with_the_limit_named(tmp_path, tiny_model):
    root = tmp_path / "photos"
    save_photo(root / "wide.png", scene((600, 400), seed=1))  # a PNG decodes at full size
    save_photo(root / "camera.jpg", scene((1600, 1200), seed=2))  # a JPEG at a reduced scale first
    out = tmp_path / "tags.csv"
    scan(ScanConfig([str(root)], str(out), model=str(tiny_model), workers=0, max_pixels=100_000))
    frame = read_results(out).set_index("path")
    assert frame.loc[str(root / "wide.png"), "status"] == "failed"
    assert (
        "600x400 pixels, over the 100,000 pixel limit (--max-pixels)"
        in frame.loc[str(root / "wide.png"), "error"]
    )
    assert frame.loc[str(root / "camera.jpg"), "status"] == "tagged"


def test_building_a_predictor_leaves_the_process_alone_and_the_scan_sets_it_up(
    tmp_path, photo_tree, tiny_model, monkeypatch
):
    import landmark_tag.host.process as process

    calls = []
    monkeypatch.setattr(process, "keep_freed_memory", lambda: calls.append("mallopt") or True)
    make_predictor(load_model(tiny_model), torch.device("cpu"), k=3)
    predict_landmarks([str(photo_tree / "located.jpg")], model=str(tiny_model))
    assert calls == []  # a library call never changes its caller's allocator
    scan(ScanConfig([str(photo_tree)], str(tmp_path / "t.parquet"), model=str(tiny_model), workers=0))
    assert calls == ["mallopt"]  # the scan's process runs the model: its setup step does


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"engine": "ray", "workers": 2}, "--workers"),
        ({"engine": "ray", "gpu_decode": True}, "--gpu-decode"),
        ({"actors": 2}, "--actors"),
        ({"ray_address": "auto"}, "--ray-address"),
        ({"engine": "spark"}, "--engine"),
    ],
)
def test_options_the_engine_cannot_use_are_refused_before_anything_runs(tmp_path, photo_tree, options, named):
    from landmark_tag.errors import ConfigError

    config = ScanConfig([str(photo_tree)], str(tmp_path / "t.parquet"), model=str(tmp_path / "absent.pt"))
    for name, value in options.items():
        setattr(config, name, value)
    with pytest.raises(ConfigError, match=named):
        scan(config)  # refused before the (absent) model is looked for


def test_the_ray_engine_without_ray_says_how_to_install_it(tmp_path, photo_tree, tiny_model, monkeypatch):
    import sys

    from typer.testing import CliRunner

    from landmark_tag.cli import app

    monkeypatch.setitem(sys.modules, "ray", None)  # as where Ray is not installed: import fails
    out = tmp_path / "t.parquet"
    arguments = ["scan", str(photo_tree), "--model", str(tiny_model), "--out", str(out), "--engine", "ray"]
    result = CliRunner().invoke(app, arguments)
    assert result.exit_code != 0 and not out.exists()
    message = result.output.strip()
    assert "Traceback" not in message and len(message.splitlines()) == 1
    assert "pip install 'ray[data,client]>=2.50,<3'" in message  # works however landmark-tag was installed


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_capture_time_and_camera_are_columns_for_located_and_tagged_photos(tmp_path, tiny_model, suffix):
    from datetime import datetime, timezone

    from tests.helpers import capture_exif, gps_exif, save_photo, scene

    phone = capture_exif(
        gps_exif(50.87, 4.33), taken="2017:04:17 14:34:18", offset="+02:00", gps_date="2017:04:17",
        gps_time=(12, 34, 20), make="Google", model="Pixel 4",
    )  # fmt: skip
    camera = capture_exif(taken="2017:04:17 13:40:00", subseconds="5", make="SONY", model="DSC-HX400V")
    save_photo(tmp_path / "photos" / "phone.jpg", scene(seed=1), exif=phone)
    save_photo(tmp_path / "photos" / "camera.jpg", scene(seed=2), exif=camera)
    out = tmp_path / f"tags{suffix}"
    scan(ScanConfig([str(tmp_path / "photos")], str(out), model=str(tiny_model), workers=0))
    frame = read_results(out).set_index("path")
    located, other = (
        frame.loc[str(tmp_path / "photos" / "phone.jpg")],
        frame.loc[str(tmp_path / "photos" / "camera.jpg")],
    )
    assert located["status"] == "skipped_gps" and located["camera"] == "Google Pixel 4"
    assert located["taken_at"] == pd.Timestamp(datetime(2017, 4, 17, 12, 34, 18, tzinfo=timezone.utc))
    assert located["gps_time"] == pd.Timestamp(datetime(2017, 4, 17, 12, 34, 20, tzinfo=timezone.utc))
    assert located["taken_offset"] == "+02:00"
    # No offset: the camera's clock is kept as it read, and no UTC time is made up from it.
    assert other["taken_local"] == pd.Timestamp("2017-04-17 13:40:00.5") and pd.isna(other["taken_at"])
    assert (
        pd.isna(other["taken_offset"]) and pd.isna(other["gps_time"]) and other["camera"] == "SONY DSC-HX400V"
    )


def test_a_new_gps_photo_locates_photos_written_by_earlier_runs(tmp_path, tiny_model):
    from tests.helpers import capture_exif, gps_exif, save_photo, scene

    def phone(lat: float, minute: int):
        return capture_exif(gps_exif(lat, 4.32), taken=f"2017:04:17 14:{minute:02d}:00", offset="+02:00")

    photos = tmp_path / "photos"
    save_photo(photos / "a-phone.jpg", scene(seed=1), exif=phone(50.88, 20))
    camera = capture_exif(taken="2017:04:17 14:30:00", offset="+02:00", make="SONY", model="DSC-HX400V")
    save_photo(photos / "b-camera.jpg", scene(seed=2), exif=camera)
    out = tmp_path / "tags.parquet"
    config = ScanConfig([str(photos)], str(out), model=str(tiny_model), workers=0, min_confidence=1.0)
    scan(config)
    first = read_results(out).set_index("path").loc[str(photos / "b-camera.jpg")]
    assert first["location_source"] == "time" and first["location_latitude"] == pytest.approx(50.88)
    save_photo(photos / "c-phone.jpg", scene(seed=3), exif=phone(50.89, 40))
    summary = scan(config)
    assert summary.processed == 1  # only the new photo: the camera's row is located again at commit
    again = read_results(out).set_index("path").loc[str(photos / "b-camera.jpg")]
    assert again["location_latitude"] == pytest.approx(50.885)  # between the two fixes now


def test_an_output_written_before_locations_gets_them_on_the_next_run(tmp_path, photo_tree, tiny_model):
    import pyarrow.parquet as pq

    out = tmp_path / "tags.parquet"
    config = ScanConfig([str(photo_tree)], str(out), model=str(tiny_model), workers=0)
    scan(config)
    table = pq.read_table(out)
    old = table.drop_columns([name for name in table.column_names if name.startswith("location_")])
    pq.write_table(old, out)
    again = scan(config)
    assert (again.new, again.changed, again.processed) == (0, 0, again.retried)  # failed ones only
    frame = read_results(out).set_index("path")
    assert frame.loc[str(photo_tree / "located.jpg"), "location_source"] == "gps"


def test_an_output_written_before_capture_times_says_its_rows_need_one_full_scan(
    tmp_path, photo_tree, tiny_model, caplog
):
    import pyarrow.parquet as pq

    out = tmp_path / "tags.parquet"
    config = ScanConfig([str(photo_tree)], str(out), model=str(tiny_model), workers=0)
    scan(config)
    table = pq.read_table(out)
    pq.write_table(
        table.drop_columns(
            ["taken_at", "taken_local", "taken_offset", "taken_at_source", "gps_time", "camera"]
        ),
        out,
    )
    scan(config)
    assert "written before capture times were read" in caplog.text and "--full, once" in caplog.text
    caplog.clear()
    scan(config)  # the output has the columns now: said once
    assert "capture times" not in caplog.text


def test_a_gps_track_locates_a_cameras_photos_once_aligned_with_its_clock(tmp_path, tiny_model):
    from datetime import timedelta

    from tests.helpers import NOON, capture_exif, gps_exif, save_photo, scene, write_gpx

    walk = [(50.0 + i * 0.001, 4.0, 60.0 * i) for i in range(120)]  # north, a point a minute
    write_gpx(tmp_path / "walk.gpx", walk)

    def clock(minute: float) -> str:  # the camera reads an hour ahead of UTC, and says nothing of it
        return (NOON + timedelta(minutes=minute, hours=1)).strftime("%Y:%m:%d %H:%M:%S")

    photos = tmp_path / "photos"
    for minute in (10, 40, 70):
        exif = capture_exif(gps_exif(50.0 + minute * 0.001, 4.0), taken=clock(minute), make="SONY", model="A")
        save_photo(photos / f"gps-{minute}.jpg", scene(seed=minute), exif=exif)
    save_photo(
        photos / "target.jpg", scene(seed=1), exif=capture_exif(taken=clock(55), make="SONY", model="A")
    )
    out = tmp_path / "tags.parquet"
    config = ScanConfig(
        [str(photos)], str(out), model=str(tiny_model), workers=0, gpx=(str(tmp_path / "walk.gpx"),)
    )
    summary = scan(config)
    row = read_results(out).set_index("path").loc[str(photos / "target.jpg")]
    assert row["location_source"] == "track" and row["location_latitude"] == pytest.approx(50.055, abs=1e-6)
    assert any("-01:00:00 from SONY A on its clock" in clock for clock in summary.clocks)


def phone_and_camera(tmp_path, tiny_model) -> tuple[Path, ScanConfig]:
    """A phone photo with GPS and, five minutes later, a camera photo without; a scan of them that
    writes sidecars."""
    photos = tmp_path / "photos"
    phone = capture_exif(gps_exif(50.88, 4.32), taken="2017:04:17 14:20:00", offset="+02:00")
    save_photo(photos / "phone.jpg", scene(seed=1), exif=phone)
    camera = capture_exif(taken="2017:04:17 14:25:00", offset="+02:00")
    save_photo(photos / "camera.jpg", scene(seed=2), exif=camera)
    config = ScanConfig(
        [str(photos)], str(tmp_path / "t.parquet"), model=str(tiny_model), workers=0, min_confidence=1.0,
        write_xmp=True,
    )  # fmt: skip
    return photos, config


def test_a_location_found_by_time_goes_into_the_sidecar_saying_how_it_was_found(tmp_path, tiny_model):
    photos, config = phone_and_camera(tmp_path, tiny_model)
    first = scan(config)
    sidecar = (photos / "camera.jpg.xmp").read_text()
    assert "<exif:GPSProcessingMethod>landmark-tag: time, within 170 m</exif:GPSProcessingMethod>" in sidecar
    assert "<exif:GPSLatitude>50,52.800000N</exif:GPSLatitude>" in sidecar
    assert not (photos / "phone.jpg.xmp").exists()  # its own GPS is in the photo already
    assert first.sidecars.written == 1
    again = scan(config)  # the same location: the sidecar is not written again
    assert again.sidecars.written == 0 and (photos / "camera.jpg.xmp").read_text() == sidecar
    # A phone photo in Paris five minutes later: the fixes around the camera's photo now disagree,
    # so the location written before no longer holds, and leaves the sidecar.
    paris = capture_exif(gps_exif(48.8584, 2.2945), taken="2017:04:17 14:30:00", offset="+02:00")
    save_photo(photos / "paris.jpg", scene(seed=3), exif=paris)
    third = scan(config)
    assert third.sidecars.written == 1
    assert not (photos / "camera.jpg.xmp").exists()  # nothing else was in it: no empty shell is left


def test_sidecars_catch_up_with_locations_that_moved_in_a_run_without_write_xmp(tmp_path, tiny_model):
    photos, config = phone_and_camera(tmp_path, tiny_model)
    scan(config)
    assert "within 170 m" in (photos / "camera.jpg.xmp").read_text()
    synced = tmp_path / "t.parquet.sidecars-synced"
    assert synced.exists()  # the sidecars follow the output
    # A photo with GPS a minute after the camera's: its location moves closer, in a run without sidecars.
    near = capture_exif(gps_exif(50.89, 4.32), taken="2017:04:17 14:26:00", offset="+02:00")
    save_photo(photos / "near.jpg", scene(seed=3), exif=near)
    config.write_xmp = False
    scan(config)
    assert "within 170 m" in (photos / "camera.jpg.xmp").read_text()  # behind the output now
    assert not synced.exists()
    config.write_xmp = True
    caught_up = scan(config)
    row = read_results(tmp_path / "t.parquet").set_index("path").loc[str(photos / "camera.jpg")]
    assert caught_up.sidecars.written == 1
    assert f"within {row['location_radius_m']:,.0f} m" in (photos / "camera.jpg.xmp").read_text()
    assert scan(config).sidecars.written == 0 and synced.exists()  # caught up once, then left alone
    # A sidecar deleted (or restored from an old backup): --full repairs it.
    (photos / "camera.jpg.xmp").unlink()
    config.full = True
    assert scan(config).sidecars.written == 1
    assert f"within {row['location_radius_m']:,.0f} m" in (photos / "camera.jpg.xmp").read_text()


def test_pruning_the_photos_that_placed_others_says_how_many_locations_went_with_them(tmp_path, tiny_model):
    photos = tmp_path / "photos"
    for i, minute in enumerate((20, 30)):
        phone = capture_exif(gps_exif(50.88, 4.32), taken=f"2017:04:17 14:{minute}:00", offset="+02:00")
        save_photo(photos / f"phone{i}.jpg", scene(seed=i), exif=phone)
    for i in range(3):
        save_photo(
            photos / f"camera{i}.jpg",
            scene(seed=5 + i),
            exif=capture_exif(taken=f"2017:04:17 14:2{i + 4}:00", offset="+02:00"),
        )
    config = ScanConfig(
        [str(photos)], str(tmp_path / "t.parquet"), model=str(tiny_model), workers=0, min_confidence=1.0
    )
    assert scan(config).locations == {"gps": 2, "time": 3}
    for i in range(2):
        (photos / f"phone{i}.jpg").unlink()
    config.prune = True
    pruned = scan(config)
    assert pruned.locations == {} and pruned.locations_withdrawn == 3
