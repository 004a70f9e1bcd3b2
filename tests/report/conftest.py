import pytest

from landmark_tag.files.results import read_results
from landmark_tag.pipeline.scan import ScanConfig, scan
from tests.helpers import (
    TINY_PLACES,
    add_landmark_scorer,
    gps_exif,
    jpeg_bytes,
    save_photo,
    scene,
    write_tiny_checkpoint,
)

# Not possible as one file name (it holds a "/"), so a folder and a file make up this path.
SCRIPT_PATH = ("<script>alert(1)<", "script>.jpg")
IMG_NAME = "<img src=x onerror=alert(1)>.jpg"
BAD_FAILED = "<b onmouseover=alert(2)>bold.png"


@pytest.fixture(scope="module")
def scanned(tmp_path_factory):
    """A scan output with every status, bad names and a photo that is gone by report time."""
    root = tmp_path_factory.mktemp("report")
    photos = root / "photos"
    for i in range(6):
        save_photo(photos / f"img_{i}.jpg", scene((400, 300), seed=i), quality=85)
    save_photo(photos.joinpath(*SCRIPT_PATH), scene(seed=11))
    save_photo(photos / IMG_NAME, scene(seed=12))
    save_photo(photos / "rotated.jpg", scene((300, 200), seed=13), exif=orientation_6())
    save_photo(photos / "located.jpg", exif=gps_exif(48.8584, 2.2945))
    (photos / "broken.jpg").write_bytes(b"not a jpeg")
    (photos / BAD_FAILED).write_bytes(jpeg_bytes(scene())[:200])  # truncated
    model = write_tiny_checkpoint(root / "m.pt", class_names=list(TINY_PLACES), places=TINY_PLACES)
    # Photos unlike these four show no landmark.
    add_landmark_scorer(model, [photos / f"img_{i}.jpg" for i in range(4)])
    out = root / "tags.parquet"
    config = ScanConfig([str(photos)], str(out), model=str(model), workers=0, min_confidence=0)
    scan(config)
    # Again, at a threshold in the middle of the top-1 probabilities: some photos come out uncertain.
    tagged = read_results(out).query("status == 'tagged'")["probability_1"]
    config.min_confidence, config.full = float(tagged.median()), True
    summary = scan(config)
    return {"root": root, "photos": photos, "out": out, "summary": summary, "model": model}


def orientation_6():
    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to view
    return exif
