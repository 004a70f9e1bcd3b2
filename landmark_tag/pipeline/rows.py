"""Stage 6: turn a batch of examined photos and the model's answers into output rows.

Shared by both engines: the local engine calls it in the scan's process, Ray in its model actors.
"""

from __future__ import annotations

import time

from landmark_tag.pipeline.batch import PhotoBatch
from landmark_tag.pipeline.predict import Predictor
from landmark_tag.results import ResultRow, Status


def rows_for_batch(batch: PhotoBatch, predictor: Predictor, model_name: str) -> list[ResultRow]:
    """Predict the batch's decoded photos and turn every item into its output row."""
    top = predictor(batch.pixels) if batch.pixels is not None else None
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
        )
        if item.decoded and top is not None:
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
        elif item.error is None:  # never expected: a photo neither decoded, located nor failed
            row.error = "not decoded"
        rows.append(row)
    return rows
