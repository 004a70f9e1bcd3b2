"""Turn a batch of examined photos and the model's answers into output rows, one per photo.

Shared by both engines (through `engines.tag_shard`): the local engine runs it in the scan's
process, Ray in its model actors.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator

from landmark_tag.files.results import ResultRow, Status
from landmark_tag.pipeline.execute.batch import PhotoBatch
from landmark_tag.pipeline.execute.predict import Predictor, TopK


def predicted_rows(
    batches: Iterable[PhotoBatch], predictor: Predictor | None, model_name: str
) -> Iterator[tuple[PhotoBatch, list[ResultRow]]]:
    """Each batch with its rows, in order, with the model running ahead: one batch more is started on the
    model than the runtime computes at once (`runner.streams`) before the oldest one's rows are
    made. So the model computes while the caller waits for decoded photos, makes rows and writes
    them, and with several streams none waits for the others' batches. Without a `predictor` (no
    landmark model), each batch's rows at once."""
    if predictor is None:
        for batch in batches:
            yield batch, batch_rows(batch, None, None, model_name)
        return
    started: deque[tuple[PhotoBatch, Callable[[], TopK] | None]] = deque()
    on_the_model = 0  # batches started with photos for the model; the others only keep their place
    pace = ModelPace()
    asked = time.monotonic()
    for batch in batches:
        got = time.monotonic()
        predictor.runner.use_spare_core(pace.model_bound)
        top = predictor.submit(batch.pixels) if batch.pixels is not None else None
        started.append((batch, top))
        on_the_model += top is not None
        for_model = time.monotonic() - got  # a submit waits while every stream is busy
        while on_the_model > predictor.runner.streams:
            oldest, oldest_top = started.popleft()
            on_the_model -= oldest_top is not None
            begun = time.monotonic()
            answers = oldest_top() if oldest_top is not None else None
            for_model += time.monotonic() - begun
            yield oldest, batch_rows(oldest, answers, predictor, model_name)
        pace.record(for_photos=got - asked, for_model=for_model)
        asked = time.monotonic()
    while started:
        yield _rows_of(*started.popleft(), predictor, model_name)


# Batches the pace is judged over: long enough that the decode workers' batches, which come in
# twos and threes on a few cores, average out; short enough to follow a tree of other photos.
PACE_WINDOW = 8


class ModelPace:
    """Whether the model holds the scan back: over the last PACE_WINDOW batches, the scan's process
    waited longer for the model (to start a batch, or for its answers) than for decoded photos."""

    def __init__(self, window: int = PACE_WINDOW) -> None:
        self._for_photos: deque[float] = deque(maxlen=window)
        self._for_model: deque[float] = deque(maxlen=window)

    def record(self, for_photos: float, for_model: float) -> None:
        self._for_photos.append(for_photos)
        self._for_model.append(for_model)

    @property
    def model_bound(self) -> bool:
        full = len(self._for_model) == self._for_model.maxlen
        return full and sum(self._for_model) > sum(self._for_photos)


def _rows_of(
    batch: PhotoBatch, top: Callable[[], TopK] | None, predictor: Predictor, model_name: str
) -> tuple[PhotoBatch, list[ResultRow]]:
    return batch, batch_rows(batch, top() if top is not None else None, predictor, model_name)


def batch_rows(
    batch: PhotoBatch, top: TopK | None, predictor: Predictor | None, model_name: str
) -> list[ResultRow]:
    """Every item of the batch as its output row, given the model's answers for its decoded photos."""
    scanned_at = time.time()
    rows = []
    decoded_index = 0
    for item in batch.items:
        row = ResultRow(
            path=item.photo.path,
            status=Status.FAILED,
            size_bytes=item.photo.size_bytes,
            modified_at=item.photo.modified_at,
            scanned_at=scanned_at,
            model=model_name,
            error=item.error,
            gps_latitude=item.gps.latitude if item.gps else None,
            gps_longitude=item.gps.longitude if item.gps else None,
            taken_at=item.taken.utc,
            taken_local=item.taken.local,
            taken_offset=item.taken.offset,
            gps_time=item.taken.gps_utc,
            camera=item.camera,
            picture_hashes=item.picture_hashes,
        )
        if item.decoded and top is not None and predictor is not None:
            indices, probabilities = top.indices[decoded_index], top.probabilities[decoded_index]
            if top.landmark_scores is not None:
                row.landmark_score = float(top.landmark_scores[decoded_index])
            row.status, place = predictor.judge(int(indices[0]), float(probabilities[0]), row.landmark_score)
            row.landmarks = [predictor.labels[i] for i in indices]
            row.probabilities = [float(p) for p in probabilities]
            if place is not None:
                row.estimated_latitude, row.estimated_longitude = place.latitude, place.longitude
                row.estimated_country = place.country
            decoded_index += 1
        elif item.error is None and item.gps is not None:
            row.status = Status.SKIPPED_GPS
        elif item.error is None and predictor is None and top is None:
            row.status = Status.LANDMARKS_OFF  # no landmark model looked at it
        elif item.error is None:  # never expected: a photo neither decoded, located nor failed
            row.error = "not decoded"
        rows.append(row)
    return rows
