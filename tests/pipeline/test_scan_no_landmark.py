"""The scan with a model that has a landmark score: no_landmark rows, re-judging, old models."""

import logging
import os

import pandas as pd
import pyarrow.parquet as pq
import pytest

from landmark_tag.files.results import read_results
from landmark_tag.model.checkpoint import load_model
from landmark_tag.pipeline.scan import ScanConfig, scan
from tests.helpers import (
    TINY_PLACES,
    add_landmark_scorer,
    gps_exif,
    make_negatives_folder,
    save_photo,
    scene,
    write_tiny_checkpoint,
)

THRESHOLD = 0.999


@pytest.fixture
def mixed_tree(tmp_path):
    """Three 'landmark' photos (the model's bank holds them), 12 generated photos of no landmark,
    and one located photo."""
    root = tmp_path / "photos"
    landmarks = [save_photo(root / "trip" / f"landmark_{i}.jpg", scene(seed=i)) for i in range(3)]
    make_negatives_folder(root / "home", per_kind=2)
    save_photo(root / "located.jpg", exif=gps_exif(41.8902, 12.4922))
    return root, landmarks


@pytest.fixture
def scored_model(tmp_path, mixed_tree):
    # Every class has a place, so a tagged row always has a location.
    places = {**TINY_PLACES, "03.Grey_Tower": TINY_PLACES["00.Red_Fort"]}
    model = write_tiny_checkpoint(tmp_path / "scored.pt", places=places)
    return add_landmark_scorer(model, mixed_tree[1], threshold=THRESHOLD)


def statuses(out, root) -> dict[str, str]:
    frame = read_results(out)
    return {os.path.relpath(p, root): s for p, s in zip(frame["path"], frame["status"], strict=True)}


def test_photos_unlike_every_landmark_get_no_landmark_and_no_location(tmp_path, mixed_tree, scored_model):
    root, _ = mixed_tree
    out = tmp_path / "tags.parquet"
    summary = scan(ScanConfig([str(root)], str(out), model=str(scored_model), workers=0, write_xmp=True))
    assert summary.counts == {
        "tagged": 3,
        "uncertain": 0,
        "no_landmark": 12,
        "skipped_gps": 1,
        "landmarks_off": 0,
        "failed": 0,
    }
    assert summary.min_landmark_score == THRESHOLD
    frame = read_results(out).set_index("path")
    negatives = frame[frame.index.str.contains("/home/")]
    assert (negatives["status"] == "no_landmark").all() and len(negatives) == 12
    assert (negatives["landmark_score"] < THRESHOLD).all()
    assert negatives["landmark_1"].notna().all()  # top-k is still there for whoever wants to look
    assert negatives["estimated_latitude"].isna().all() and negatives["estimated_country"].isna().all()
    tagged = frame[frame["status"] == "tagged"]
    assert (tagged["landmark_score"] >= THRESHOLD).all() and tagged["estimated_latitude"].notna().all()
    assert (
        frame.loc[str(root / "located.jpg"), "landmark_score"]
        != frame.loc[str(root / "located.jpg"), "landmark_score"]
    )
    # Sidecars only beside tagged photos.
    assert sorted(p.name for p in root.rglob("*.xmp")) == [f"landmark_{i}.jpg.xmp" for i in range(3)]


def test_changed_thresholds_rejudge_the_existing_output_without_the_model(tmp_path, mixed_tree, scored_model):
    root, _ = mixed_tree
    out = tmp_path / "tags.parquet"
    config = ScanConfig([str(root)], str(out), model=str(scored_model), workers=0)
    assert scan(config).counts["no_landmark"] == 12
    first_statuses = statuses(out, root)
    scores_before = read_results(out)["landmark_score"].fillna(-9).tolist()

    config.min_landmark_score = -1.0  # everything looks like a landmark now
    loose = scan(config)
    assert loose.processed == 0 and loose.rejudged == 12 and loose.min_landmark_score == -1.0
    frame = read_results(out)
    assert set(statuses(out, root).values()) == {"tagged", "skipped_gps"}
    assert frame[frame["status"] == "tagged"]["estimated_latitude"].notna().all()
    assert frame["landmark_score"].fillna(-9).tolist() == scores_before  # stored numbers never change

    config.min_landmark_score = None  # back to the model's threshold
    config.min_confidence = 1.0  # and nothing is sure enough: landmarks become uncertain
    strict = scan(config)
    assert strict.processed == 0 and strict.rejudged == 15
    assert sorted(statuses(out, root).values()).count("uncertain") == 3
    assert read_results(out)["estimated_latitude"].isna().all()

    config.min_confidence = None
    scan(config)
    assert statuses(out, root) == first_statuses
    modified = out.stat().st_mtime_ns
    unchanged = scan(config)  # the same thresholds again: nothing to re-judge, the output stays
    assert unchanged.rejudged == 0 and out.stat().st_mtime_ns == modified


def test_a_model_without_the_score_says_so_once_and_never_says_no_landmark(tmp_path, mixed_tree, caplog):
    root, _ = mixed_tree
    old_model = write_tiny_checkpoint(tmp_path / "old.pt")
    out = tmp_path / "tags.csv"
    with caplog.at_level(logging.WARNING):
        summary = scan(ScanConfig([str(root)], str(out), model=str(old_model), workers=0, batch_size=2))
    warnings = [r for r in caplog.records if "has no landmark score" in r.getMessage()]
    assert len(warnings) == 1 and str(old_model) in warnings[0].getMessage()
    assert summary.counts["no_landmark"] == 0 and summary.min_landmark_score is None
    assert read_results(out)["landmark_score"].isna().all()
    with pytest.raises(ValueError, match="has no landmark score"):
        scan(ScanConfig([str(root)], str(out), model=str(old_model), workers=0, min_landmark_score=0.5))


def test_an_output_written_before_the_score_existed_is_extended(tmp_path, mixed_tree, scored_model):
    root, landmarks = mixed_tree
    out = tmp_path / "tags.parquet"
    scan(
        ScanConfig(
            [str(landmarks[0])], str(out), model=str(write_tiny_checkpoint(tmp_path / "old.pt")), workers=0
        )
    )
    table = pq.read_table(out).drop_columns(["landmark_score"])  # as an older landmark-tag wrote it
    pq.write_table(table, out)
    summary = scan(ScanConfig([str(root)], str(out), model=str(scored_model), workers=0))
    assert summary.unchanged == 1 and summary.processed == 15
    frame = read_results(out).set_index("path")
    old_row = frame.loc[str(landmarks[0])]
    assert old_row["status"] == "tagged" and pd.isna(old_row["landmark_score"])
    assert old_row["model"] != load_model(scored_model).name
    assert (frame["status"] == "no_landmark").sum() == 12
