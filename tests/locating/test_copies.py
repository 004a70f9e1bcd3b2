"""Copies told from other pictures: the hashes, the candidate search and the pixel check, and
where a copy's location comes from (`locate` with `copies`)."""

import imagehash
import numpy as np
import pyarrow as pa
import pytest

from landmark_tag.locating.copies import (
    CANDIDATE_BITS,
    MAX_MEAN_VIEW_BITS,
    MIN_OVERLAY,
    VIEWS,
    copy_grey,
    mean_view_bits,
    near_pairs,
    original_grey,
    overlay_score,
    parse_hashes,
    phashes,
    picture_hashes,
    picture_views,
)
from landmark_tag.locating.fixes import LocateSettings
from landmark_tag.locating.locate import NOTE_COPY_TIME, locate
from tests.helpers import scene, shapes
from tests.locating.test_locate import T0, row, table


def whole_bits_apart(a: str, b: str) -> int:
    return (int(a[:16], 16) ^ int(b[:16], 16)).bit_count()


def nearest_view_apart(copy: str, original: str) -> int:
    return min(
        (int(copy[:16], 16) ^ int(original[16 * v : 16 * v + 16], 16)).bit_count() for v in range(VIEWS)
    )


def cut(image, left, top, right, bottom):
    width, height = image.size
    return image.crop(
        (round(width * left), round(height * top), round(width * (1 - right)), round(height * (1 - bottom)))
    )


def test_a_resized_and_cut_copy_hashes_near_its_original_and_another_picture_does_not():
    original = shapes(seed=1)
    hashes = picture_hashes(original)
    assert len(hashes) == 16 * VIEWS
    assert whole_bits_apart(picture_hashes(original.resize((320, 240))), hashes) <= 4
    assert nearest_view_apart(picture_hashes(cut(original, 0.1, 0.0, 0.0, 0.1)), hashes) <= CANDIDATE_BITS
    assert nearest_view_apart(picture_hashes(shapes(seed=2)), hashes) > CANDIDATE_BITS
    # and all of a copy's views lie near the original's, unlike those of another picture
    views = lambda text: np.array([[int(text[16 * v : 16 * v + 16], 16) for v in range(VIEWS)]], np.uint64)  # noqa: E731
    assert (
        mean_view_bits(views(picture_hashes(cut(original, 0.05, 0.05, 0.0, 0.0))), views(hashes))[0]
        <= MAX_MEAN_VIEW_BITS
    )
    assert mean_view_bits(views(picture_hashes(shapes(seed=2))), views(hashes))[0] > MAX_MEAN_VIEW_BITS


def test_hashes_are_parsed_and_the_near_ones_found_among_many():
    rng = np.random.default_rng(0)
    originals = rng.integers(0, 2**63, size=(1000, VIEWS), dtype=np.uint64)
    copy = originals[417, 6] ^ np.uint64(0b10110)  # 3 bits from one of that photo's cut views
    copies = np.array([np.uint64(12345), copy])
    at, near, bits = near_pairs(copies, originals)  # the loop over the copies
    assert (at.tolist(), near.tolist(), bits.tolist()) == ([1], [417], [3])
    at, near, bits = near_pairs(copies, originals[410:420])  # over the originals, the fewer
    assert (at.tolist(), near.tolist(), bits.tolist()) == ([1], [7], [3])
    assert [len(found) for found in near_pairs(copies, originals[:10])] == [0, 0, 0]
    text = "".join(f"{int(v):016x}" for v in originals[417])
    hashes, has = parse_hashes(pa.array([None, text, "not hex"]))
    assert has.tolist() == [False, True, False] and (hashes[1] == originals[417]).all()


@pytest.mark.parametrize(
    ("copy_of", "expected"),
    [
        (lambda o: o.resize((400, 300)), "copy"),
        (lambda o: cut(o, 0.06, 0.02, 0.03, 0.07).resize((360, 260)), "copy"),
        (lambda o: shapes(seed=7), "other"),  # another picture
        (lambda o: cut(o, 0.3, 0.3, 0.0, 0.0), "other"),  # too much cut away to be a light crop
    ],
)
def test_the_pixels_tell_a_copy_from_another_picture(copy_of, expected):
    original = shapes(seed=3, size=(1200, 900))
    score = overlay_score(copy_grey(copy_of(original)), original_grey(original))
    assert (score >= MIN_OVERLAY) == (expected == "copy"), score


def test_a_plain_picture_is_no_ones_copy():
    from PIL import Image

    black = Image.new("RGB", (400, 300))
    assert picture_hashes(black) is None  # no hashes: never a candidate
    assert overlay_score(copy_grey(black), original_grey(black)) < MIN_OVERLAY


def located(rows, copies, **settings):
    return locate(table(rows), LocateSettings(**settings), copies=np.array(copies)).table.to_pylist()


def test_a_copy_takes_its_originals_location_radius_and_time():
    rows = [
        row(gps=(50.85, 4.35), utc=0, local=7200, path="/p/original.jpg"),
        row(path="/p/copy.jpg"),
    ]
    copy = located(rows, [-1, 0])[1]
    assert copy["location_source"] == "copy" and copy["copy_of"] == "/p/original.jpg"
    assert (copy["location_latitude"], copy["location_radius_m"]) == (50.85, 20.0)
    assert copy["taken_at"].timestamp() == T0 and copy["taken_at_source"] == "copy"


def test_own_gps_outranks_a_copy_and_a_copy_outranks_time():
    rows = [
        row(gps=(50.85, 4.35), local=130, camera="A", path="/p/original.jpg"),
        row(gps=(50.86, 4.36), path="/p/copy-with-gps.jpg"),
        row(gps=(50.8501, 4.3501), local=100, camera="B", path="/p/b1.jpg"),
        row(local=130, camera="B", path="/p/copy-timed.jpg"),  # kept its time; B's photos place it too
        row(gps=(50.8502, 4.3502), local=160, camera="B", path="/p/b2.jpg"),
    ]
    out = located(rows, [-1, 0, -1, 0, -1])
    assert out[1]["location_source"] == "gps"
    assert out[3]["location_source"] == "copy" and out[3]["copy_of"] == "/p/original.jpg"


def test_a_copy_whose_time_or_place_says_otherwise_gets_none():
    rows = [
        row(gps=(50.85, 4.35), local=7030, camera="A", path="/p/original.jpg"),
        row(local=3600, camera="C", path="/p/another-moment.jpg"),  # its own time: not the original's
        row(gps=(48.85, 2.35), local=7000, camera="B", path="/p/b1.jpg"),
        row(local=7030, camera="B", path="/p/in-paris.jpg"),  # time puts it in Paris
        row(gps=(48.85, 2.35), local=7060, camera="B", path="/p/b2.jpg"),
    ]
    out = located(rows, [-1, 0, -1, 0, -1])
    assert out[1]["location_source"] is None and out[1]["location_note"] == NOTE_COPY_TIME
    assert out[3]["location_source"] is None and out[3]["location_note"] == "copy and time disagree"
    assert out[1]["copy_of"] == "/p/original.jpg"  # it still says what it looks like


def test_a_copy_of_a_photo_that_is_not_placed_by_its_own_gps_or_a_track_gets_none():
    rows = [
        row(landmark=(27.17, 78.04), status="tagged", path="/p/tagged.jpg"),
        row(path="/p/copy.jpg"),
    ]
    assert located(rows, [-1, 0])[1]["location_source"] is None


def test_a_copy_of_a_photo_placed_by_a_track_is_placed_there_too():
    from tests.locating.test_locate import WALK, track

    rows = [row(utc=WALK[50][2], path="/p/on-the-walk.jpg"), row(path="/p/its-copy.jpg")]
    out = locate(table(rows), LocateSettings(), track(WALK), copies=np.array([-1, 0])).table.to_pylist()
    assert out[0]["location_source"] == "track"
    assert out[1]["location_source"] == "copy" and out[1]["location_latitude"] == pytest.approx(50.05)
    assert out[1]["location_radius_m"] == out[0]["location_radius_m"]


def test_two_smooth_pictures_are_not_each_others_copies():
    from tests.helpers import scene

    # Two gradients (with noise) correlate as grey levels as well as a copy does; not in detail.
    first, second = scene((640, 480), seed=3), scene((640, 480), seed=5)
    assert overlay_score(copy_grey(second.resize((320, 240))), original_grey(first)) < MIN_OVERLAY


def test_the_hashes_are_imagehashs_phash_bit_for_bit():
    views = [*picture_views(shapes(seed=5).convert("L")), scene((90, 60), seed=1).convert("L")]
    assert phashes(views) == [str(imagehash.phash(view)) for view in views]
