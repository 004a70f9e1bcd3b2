"""Photos and models made by the tests themselves."""

from __future__ import annotations

import io
import struct
from datetime import datetime, timedelta, timezone
from pathlib import Path

import gpxpy.gpx
import numpy as np
import torch
from PIL import ExifTags, Image, ImageDraw, TiffImagePlugin

from landmark_tag.files.results import ResultRow, Status
from landmark_tag.model.checkpoint import ModelSpec, save_checkpoint
from landmark_tag.model.gazetteer import Place
from landmark_tag.model.preprocessing import Preprocessing

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CLASS_NAMES = ["00.Red_Fort", "01.Blue_Lagoon", "02.Green_Park", "03.Grey_Tower"]
# Made-up places for the tiny models' made-up classes (the last class has none).
TINY_PLACES = {
    "00.Red_Fort": Place("00.Red_Fort", "Red Fort", 28.6562, 77.2410, "IN"),
    "01.Blue_Lagoon": Place("01.Blue_Lagoon", "Blue Lagoon", 63.8804, -22.4495, "IS"),
    "02.Green_Park": Place("02.Green_Park", "Green Park", 51.5040, -0.1420, "GB"),
}


def scene(size=(320, 240), seed: int = 0) -> Image.Image:
    """A photo-like RGB image: a colour gradient with noise, different per seed."""
    rng = np.random.default_rng(seed)
    width, height = size
    x = np.linspace(0, 1, width)[None, :, None]
    y = np.linspace(0, 1, height)[:, None, None]
    base = rng.uniform(0, 255, 3)[None, None, :]
    array = base * (0.5 + 0.5 * x) * (0.6 + 0.4 * y) + rng.normal(0, 12, (height, width, 3))
    return Image.fromarray(np.clip(array, 0, 255).astype(np.uint8), "RGB")


def shapes(size=(640, 480), seed: int = 0) -> Image.Image:
    """A picture with structure of its own (random ellipses and boxes on a gradient), different per
    seed, as copies are told apart by: unlike `scene`, two seeds do not look alike in grey levels."""
    rng = np.random.default_rng(seed)
    image = scene(size, seed)
    draw = ImageDraw.Draw(image)
    width, height = size
    for _ in range(12):
        x0, y0 = rng.uniform(-0.1, 0.9) * width, rng.uniform(-0.1, 0.9) * height
        x1, y1 = x0 + rng.uniform(0.1, 0.5) * width, y0 + rng.uniform(0.1, 0.5) * height
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x0, y0, x1, y1), fill=colour)
    return image


def quadrants(size=(320, 240)) -> Image.Image:
    """An image whose orientation is visible: four differently coloured quadrants."""
    width, height = size
    image = Image.new("RGB", size)
    colours = [(230, 20, 20), (20, 230, 20), (20, 20, 230), (230, 230, 20)]
    for i, colour in enumerate(colours):
        x0, y0 = (i % 2) * width // 2, (i // 2) * height // 2
        image.paste(colour, (x0, y0, x0 + width // 2, y0 + height // 2))
    return image


def gps_exif(lat: float, lon: float, lat_ref: str | None = None, lon_ref: str | None = None) -> Image.Exif:
    """EXIF with a GPS block for signed degrees; refs default to the signs' N/S and E/W."""
    exif = Image.Exif()
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)

    def dms(value: float) -> tuple:
        ten_thousandths = round(abs(value) * 3600 * 10000)  # in 1/10000 arc-seconds
        degrees, rest = divmod(ten_thousandths, 3600 * 10000)
        minutes, seconds = divmod(rest, 60 * 10000)
        return (
            TiffImagePlugin.IFDRational(degrees, 1),
            TiffImagePlugin.IFDRational(minutes, 1),
            TiffImagePlugin.IFDRational(seconds, 10000),
        )

    gps[ExifTags.GPS.GPSLatitudeRef] = lat_ref or ("N" if lat >= 0 else "S")
    gps[ExifTags.GPS.GPSLatitude] = dms(lat)
    gps[ExifTags.GPS.GPSLongitudeRef] = lon_ref or ("E" if lon >= 0 else "W")
    gps[ExifTags.GPS.GPSLongitude] = dms(lon)
    return exif


def exif_with_thumbnail(exif: Image.Exif, thumbnail: Image.Image, quality: int = 75) -> bytes:
    """`exif`'s bytes with `thumbnail` stored as a camera stores one: a JPEG in IFD1, which
    Pillow does not write. IFD1 is appended after Pillow's EXIF, and IFD0 made to point to it."""
    data = exif.tobytes()
    assert data.startswith(b"Exif\x00\x00")
    tiff = bytearray(data[6:])
    order = "<" if tiff[:2] == b"II" else ">"
    (ifd0,) = struct.unpack_from(order + "I", tiff, 4)
    (entries,) = struct.unpack_from(order + "H", tiff, ifd0)
    jpeg = io.BytesIO()
    thumbnail.convert("RGB").save(jpeg, "JPEG", quality=quality)
    ifd1 = len(tiff) + len(tiff) % 2
    tiff += b"\x00" * (ifd1 - len(tiff))
    count = 3
    data_at = ifd1 + 2 + 12 * count + 4
    tiff += struct.pack(order + "H", count)
    tiff += struct.pack(order + "HHIHH", 0x0103, 3, 1, 6, 0)  # Compression: JPEG
    tiff += struct.pack(order + "HHII", 0x0201, 4, 1, data_at)  # JPEGInterchangeFormat
    tiff += struct.pack(order + "HHII", 0x0202, 4, 1, len(jpeg.getvalue()))  # its length
    tiff += struct.pack(order + "I", 0) + jpeg.getvalue()
    struct.pack_into(order + "I", tiff, ifd0 + 2 + 12 * entries, ifd1)  # IFD0's next IFD: IFD1
    return b"Exif\x00\x00" + bytes(tiff)


def capture_exif(
    exif: Image.Exif | None = None,
    *,
    taken: str | None = None,
    subseconds: str | None = None,
    offset: str | None = None,
    gps_date: str | None = None,
    gps_time: tuple[int, int, float] | None = None,
    make: str | None = None,
    model: str | None = None,
    serial: str | None = None,
) -> Image.Exif:
    """`exif` (or a new one) with capture time tags as a camera writes them: `taken` as EXIF's
    "YYYY:MM:DD HH:MM:SS", `gps_time` as (hours, minutes, seconds) UTC."""
    exif = exif if exif is not None else Image.Exif()
    ifd = exif.get_ifd(ExifTags.IFD.Exif)
    for tag, value in (
        (ExifTags.Base.DateTimeOriginal, taken),
        (ExifTags.Base.SubsecTimeOriginal, subseconds),
        (ExifTags.Base.OffsetTimeOriginal, offset),
        (ExifTags.Base.BodySerialNumber, serial),
    ):
        if value is not None:
            ifd[tag] = value
    if make is not None:
        exif[ExifTags.Base.Make] = make
    if model is not None:
        exif[ExifTags.Base.Model] = model
    if gps_date is not None or gps_time is not None:
        gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
        if gps_date is not None:
            gps[ExifTags.GPS.GPSDateStamp] = gps_date
        if gps_time is not None:
            gps[ExifTags.GPS.GPSTimeStamp] = tuple(
                TiffImagePlugin.IFDRational(round(part * 100), 100) for part in gps_time
            )
    return exif


def save_photo(
    path: Path, image: Image.Image | None = None, exif: Image.Exif | None = None, **kwargs
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = image if image is not None else scene()
    if exif is not None:
        kwargs["exif"] = exif.tobytes()  # PNG silently drops an Exif object; bytes work everywhere
    image.save(path, **kwargs)
    return path


def jpeg_bytes(image: Image.Image, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", **kwargs)
    return buffer.getvalue()


def tiny_spec(class_names=CLASS_NAMES) -> ModelSpec:
    return ModelSpec(
        arch="landmark_cnn",
        arch_args={"width": 4, "stages": 2},
        class_names=list(class_names),
        preprocessing=Preprocessing(input_size=64, resize_size=72),
    )


def write_tiny_checkpoint(
    path: Path, seed: int = 0, class_names=CLASS_NAMES, places=None, min_confidence: float = 0.0
) -> Path:
    """A tiny random-init model saved through the real checkpoint path."""
    torch.manual_seed(seed)
    spec = tiny_spec(class_names)
    spec.places = dict(places or {})
    spec.min_confidence = min_confidence
    model = spec.build()
    save_checkpoint(path, spec, model.state_dict())
    return path


CLASS_COLOURS = [(200, 40, 40), (40, 180, 60), (50, 70, 210), (220, 200, 40)]


def make_image_folder(root: Path, classes: int = 3, per_class: int = 8, size=(96, 72), seed: int = 0) -> Path:
    """An ImageFolder of easy synthetic classes: each class is a noisy photo of its own colour."""
    rng = np.random.default_rng(seed)
    for c in range(classes):
        folder = root / f"{c:02d}.Class_{chr(65 + c)}"
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            base = np.array(CLASS_COLOURS[c % len(CLASS_COLOURS)], dtype=np.float32)
            array = base + rng.normal(0, 25, (size[1], size[0], 3))
            Image.fromarray(np.clip(array, 0, 255).astype(np.uint8)).save(folder / f"{i}.jpg", quality=90)
    return root


def negative_photo(kind: str, seed: int = 0, size=(320, 240)) -> Image.Image:
    """A photo-like picture that shows no landmark: a document, a texture, a face made of shapes, a
    screenshot, a sky, or a room-like scene of boxes. Different per seed."""
    from PIL import ImageDraw

    rng = np.random.default_rng(seed)
    width, height = size
    colour = tuple(int(v) for v in rng.integers(0, 256, 3))
    if kind == "document":
        image = Image.new("RGB", size, (245, 245, 240))
        draw = ImageDraw.Draw(image)
        for y in range(16, height - 12, 14):
            line = int(rng.integers(width // 3, width - 24))
            for x in range(16, line, 9):
                if rng.random() > 0.15:
                    draw.rectangle((x, y, x + 6, y + 7), fill=(30, 30, 30))
        return image
    if kind == "texture":
        tile = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        array = np.tile(tile.repeat(4, 0).repeat(4, 1), (height // 32 + 1, width // 32 + 1, 1))
        return Image.fromarray(array[:height, :width])
    if kind == "face":
        image = Image.new("RGB", size, tuple(int(v) for v in rng.integers(60, 200, 3)))
        draw = ImageDraw.Draw(image)
        cx, cy, r = width // 2, height // 2, min(width, height) // 3
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(224, 172, 140))
        for dx in (-r // 2.5, r // 2.5):
            draw.ellipse((cx + dx - 8, cy - r // 3 - 6, cx + dx + 8, cy - r // 3 + 6), fill=(40, 30, 20))
        draw.arc((cx - r // 2, cy, cx + r // 2, cy + r // 2), 20, 160, fill=(150, 40, 40), width=4)
        return image
    if kind == "screenshot":
        image = Image.new("RGB", size, (250, 250, 250))
        draw = ImageDraw.Draw(image)
        draw.rectangle((0, 0, width, 22), fill=colour)
        for _ in range(6):
            x0, y0 = int(rng.integers(0, width - 60)), int(rng.integers(30, height - 30))
            draw.rectangle((x0, y0, x0 + int(rng.integers(30, 120)), y0 + 18), outline=(120, 120, 120))
        return image
    if kind == "sky":
        y = np.linspace(0, 1, height)[:, None, None]
        top, bottom = np.array([40, 90, 200]), np.array([200, 220, 250])
        array = top * (1 - y) + bottom * y + rng.normal(0, 4, (height, width, 3))
        return Image.fromarray(np.clip(array, 0, 255).astype(np.uint8))
    if kind == "room":
        image = Image.new("RGB", size, (210, 200, 180))
        draw = ImageDraw.Draw(image)
        draw.rectangle((0, height * 2 // 3, width, height), fill=(120, 90, 60))
        for _ in range(5):
            x0, y0 = int(rng.integers(0, width - 40)), int(rng.integers(height // 3, height - 40))
            fill = tuple(int(v) for v in rng.integers(0, 256, 3))
            draw.rectangle(
                (x0, y0, x0 + int(rng.integers(20, 90)), y0 + int(rng.integers(20, 60))), fill=fill
            )
        return image
    raise ValueError(f"unknown negative kind {kind!r}")


NEGATIVE_KINDS = ("document", "texture", "face", "screenshot", "sky", "room")


def make_negatives_folder(root: Path, per_kind: int = 2, size=(320, 240)) -> Path:
    """A folder of generated photos with no landmark in them, of every kind above."""
    root.mkdir(parents=True, exist_ok=True)
    for kind in NEGATIVE_KINDS:
        for i in range(per_kind):
            negative_photo(kind, seed=i, size=size).save(root / f"{kind}-{i}.jpg", quality=90)
    return root


def add_landmark_scorer(checkpoint: Path, landmark_photos: list[Path], threshold: float = 0.999) -> Path:
    """Give a checkpoint a landmark score whose bank holds the features of `landmark_photos`: they
    score 1 (in fp32), and photos unlike them less."""
    from landmark_tag.model.checkpoint import load_model
    from landmark_tag.model.openset import LandmarkScorer, build_bank, capture_features
    from landmark_tag.pipeline.execute.decode import PhotoDecoder

    loaded = load_model(checkpoint)
    decoder = PhotoDecoder(loaded.spec.preprocessing)
    pixels = torch.stack([decoder(str(photo)) for photo in landmark_photos])
    with torch.no_grad(), capture_features(loaded.model) as features:
        loaded.model(pixels)
    bank = build_bank(features[0], torch.zeros(len(pixels), dtype=torch.long))
    loaded.spec.landmark_scorer = LandmarkScorer(bank, threshold=threshold)
    save_checkpoint(checkpoint, loaded.spec, loaded.model.state_dict())
    return checkpoint


def result_rows() -> list:
    common = {"size_bytes": 10, "modified_at": 1_700_000_000.5, "scanned_at": 1_800_000_000.0, "model": "m@1"}
    return [
        ResultRow(
            "/p/a.jpg",
            Status.TAGGED,
            landmarks=["Eiffel Tower", "Atomium"],
            probabilities=[0.7, 0.2],
            estimated_latitude=48.8584,
            estimated_longitude=2.2945,
            estimated_country="FR",
            **common,
        ),
        ResultRow("/p/b.jpg", Status.SKIPPED_GPS, gps_latitude=-33.5, gps_longitude=151.25, **common),
        ResultRow("/p/c.jpg", Status.FAILED, error="empty file (0 bytes)", **common),
    ]


def make_predictor(loaded, device: torch.device, **options):
    """A Predictor for `loaded` on `device`, with resolve_inference's options (k, runtime, ...)."""
    from landmark_tag.pipeline.execute.predict import Predictor
    from landmark_tag.pipeline.inference import resolve_inference

    return Predictor(loaded, device, resolve_inference(loaded, device=device, **options))


NOON = datetime(2017, 4, 17, 12, 0, tzinfo=timezone.utc)  # write_gpx's times count from it


def write_gpx(path, points, naive: bool = False):
    """`points`: (latitude, longitude, seconds after NOON), written in that order."""
    gpx = gpxpy.gpx.GPX()
    track = gpxpy.gpx.GPXTrack()
    segment = gpxpy.gpx.GPXTrackSegment()
    for lat, lon, seconds in points:
        moment = NOON + timedelta(seconds=seconds)
        segment.points.append(
            gpxpy.gpx.GPXTrackPoint(lat, lon, time=moment.replace(tzinfo=None) if naive else moment)
        )
    track.segments.append(segment)
    gpx.tracks.append(track)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(gpx.to_xml())
    return path
