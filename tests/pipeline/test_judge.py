import pyarrow as pa
import pytest

from landmark_tag.files.results import ResultRow, Status, rows_to_table
from landmark_tag.model.gazetteer import Place
from landmark_tag.pipeline.judge import Judge

PLACES = {"Eiffel Tower": Place("16.Eiffel_Tower", "Eiffel Tower", 48.8584, 2.2945, "FR")}
JUDGE = Judge(model="m@1", min_confidence=0.5, min_landmark_score=0.6, places=PLACES)


@pytest.mark.parametrize(
    ("probability", "score", "status"),
    [
        (0.9, 0.7, Status.TAGGED),
        (0.3, 0.7, Status.UNCERTAIN),
        (0.9, 0.59, Status.NO_LANDMARK),  # a sure top-1 does not make it look like a landmark
        (0.3, 0.1, Status.NO_LANDMARK),
        (0.5, 0.6, Status.TAGGED),  # thresholds are inclusive
        (0.9, None, Status.TAGGED),  # rows without a score are judged on probability alone
    ],
)
def test_status_follows_from_the_numbers(probability, score, status):
    assert JUDGE.status(probability, score) is status


def test_a_model_without_a_landmark_score_never_says_no_landmark():
    assert Judge(model="m@1", min_confidence=0.5).status(0.9, -1.0) is Status.TAGGED


def row(path, status, probability, score, model="m@1", **extra):
    common = {"size_bytes": 1, "modified_at": 0.0, "scanned_at": 0.0}
    return ResultRow(
        path, status, model=model, landmarks=["Eiffel Tower", "Colosseum"],
        probabilities=[probability, 1 - probability], landmark_score=score, **common, **extra,
    )  # fmt: skip


def test_rejudging_a_table_changes_statuses_and_locations_of_this_models_rows_only():
    table = rows_to_table(
        [
            row("/a.jpg", Status.TAGGED, 0.9, 0.55, estimated_latitude=48.8584, estimated_longitude=2.2945),
            row("/b.jpg", Status.NO_LANDMARK, 0.9, 0.65),
            row("/c.jpg", Status.UNCERTAIN, 0.45, 0.9),
            row("/d.jpg", Status.TAGGED, 0.9, 0.1, model="other@2", estimated_latitude=1.0),
            ResultRow("/e.jpg", Status.FAILED, 1, 0.0, 0.0, "m@1", error="empty file (0 bytes)"),
        ],
        k=2,
    )
    assert JUDGE.count_changes(table) == 2
    judged_table, changed = JUDGE.rejudge_table(table)
    assert changed == 2
    judged = judged_table.to_pydict()
    assert judged["status"] == ["no_landmark", "tagged", "uncertain", "tagged", "failed"]
    assert judged["estimated_latitude"] == [None, 48.8584, None, 1.0, None]
    assert judged["estimated_country"] == [None, "FR", None, None, None]
    assert judged["error"][4] == "empty file (0 bytes)"


def test_rejudging_rows_written_before_the_score_existed_keeps_them():
    table = rows_to_table([row("/a.jpg", Status.TAGGED, 0.9, None)], k=2).drop_columns(["landmark_score"])
    assert JUDGE.count_changes(table) == 0
    assert JUDGE.rejudge_table(table) == (table, 0)
    assert JUDGE.rejudge_table(table)[0] is table
    stricter = Judge(model="m@1", min_confidence=0.95, min_landmark_score=0.6, places=PLACES)
    assert stricter.rejudge_table(table)[0].column("status").to_pylist() == ["uncertain"]
    assert isinstance(stricter.rejudge_table(table)[0], pa.Table)
