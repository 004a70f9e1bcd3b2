import time

import numpy as np
import pytest
import torch

from landmark_tag.files.discover import PhotoFile
from landmark_tag.files.results import Status
from landmark_tag.locating.exif import GpsFix
from landmark_tag.pipeline.execute.batch import PhotoBatch
from landmark_tag.pipeline.execute.examine import PhotoItem
from landmark_tag.pipeline.execute.predict import TopK
from landmark_tag.pipeline.execute.rows import PACE_WINDOW, ModelPace, predicted_rows


class RecordingRunner:
    def __init__(self, streams: int) -> None:
        self.streams = streams
        self.spare_core_wanted: list[bool] = []  # as asked before each batch

    def use_spare_core(self, wanted: bool) -> None:
        self.spare_core_wanted.append(wanted)


class RecordingPredictor:
    """Answers each photo with the class its pixels hold, and records when each batch is started on
    the model and when its answers are taken."""

    def __init__(self, streams: int, seconds_per_batch: float = 0.0) -> None:
        self.labels = [f"Place {i}" for i in range(10)]
        self.runner = RecordingRunner(streams)
        self.events: list[str] = []
        self.seconds_per_batch = seconds_per_batch

    def submit(self, pixels: torch.Tensor):
        name = f"batch {int(pixels[0, 0, 0, 0]) // 10}"
        self.events.append(f"start {name}")

        def top_k() -> TopK:
            time.sleep(self.seconds_per_batch)
            self.events.append(f"rows of {name}")
            classes = pixels[:, 0, 0, 0].long().numpy() % 10
            return TopK(classes[:, None], np.full((len(classes), 1), 0.9))

        return top_k

    def judge(self, top1_index, top1_probability, landmark_score=None):
        return Status.TAGGED, None


def decoded_batch(number: int, photos: int) -> PhotoBatch:
    items = [PhotoItem(PhotoFile(f"/p/{number}-{i}.jpg", 1, 0.0), decoded=True) for i in range(photos)]
    pixels = torch.stack([torch.full((3, 2, 2), float(number * 10 + i)) for i in range(photos)])
    return PhotoBatch(items, pixels)


@pytest.mark.parametrize(
    "streams, events",
    [
        # One stream: the next batch starts before the rows of the one before are made.
        (1, ["start batch 0", "start batch 1", "rows of batch 0", "start batch 2", "rows of batch 1"]),
        # Two: two batches compute while the rows of a third are made.
        (2, ["start batch 0", "start batch 1", "start batch 2", "rows of batch 0", "rows of batch 1"]),
    ],
)
def test_the_model_runs_ahead_of_the_rows_and_rows_come_in_order(streams, events):
    predictor = RecordingPredictor(streams)
    located = PhotoItem(PhotoFile("/p/located.jpg", 1, 0.0), gps=GpsFix(48.8, 2.3))
    batches = [decoded_batch(0, 2), decoded_batch(1, 3), PhotoBatch([located], None), decoded_batch(2, 1)]
    rows = [row for _, batch_rows in predicted_rows(batches, predictor, "tiny") for row in batch_rows]
    assert predictor.events[:5] == events
    assert sorted(predictor.events) == sorted(
        [f"start batch {n}" for n in range(3)] + [f"rows of batch {n}" for n in range(3)]
    )
    assert [row.path for row in rows] == [
        "/p/0-0.jpg",
        "/p/0-1.jpg",
        "/p/1-0.jpg",
        "/p/1-1.jpg",
        "/p/1-2.jpg",
        "/p/located.jpg",
        "/p/2-0.jpg",
    ]
    assert [row.landmarks[0] if row.landmarks else None for row in rows] == [
        "Place 0",
        "Place 1",
        "Place 0",
        "Place 1",
        "Place 2",
        None,
        "Place 0",
    ]
    assert rows[5].status is Status.SKIPPED_GPS


def test_no_batches_no_rows():
    predictor = RecordingPredictor(1)
    assert list(predicted_rows([], predictor, "tiny")) == [] and predictor.events == []


def slowly(batches, seconds):
    for batch in batches:
        time.sleep(seconds)
        yield batch


@pytest.mark.parametrize("model_seconds, photo_seconds, wanted", [(0.02, 0.0, True), (0.0, 0.02, False)])
def test_the_spare_core_is_wanted_only_while_the_model_holds_the_scan_back(
    model_seconds, photo_seconds, wanted
):
    predictor = RecordingPredictor(1, seconds_per_batch=model_seconds)
    batches = [decoded_batch(n, 1) for n in range(PACE_WINDOW + 4)]
    list(predicted_rows(slowly(batches, photo_seconds), predictor, "tiny"))
    asked = predictor.runner.spare_core_wanted
    assert asked[:PACE_WINDOW] == [False] * PACE_WINDOW  # not before a whole window is seen
    assert asked[PACE_WINDOW:] == [wanted] * 4


def test_the_pace_follows_the_last_window_only():
    pace = ModelPace(window=3)
    for _ in range(3):
        pace.record(for_photos=0.0, for_model=0.01)
    assert pace.model_bound
    for _ in range(2):
        pace.record(for_photos=0.03, for_model=0.0)
    assert not pace.model_bound  # 0.06 waiting for photos against 0.01 on the model
