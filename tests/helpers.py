"""Photos and models made by the tests themselves."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
from PIL import ExifTags, Image, TiffImagePlugin

from landmark_tag.checkpoint import ModelSpec, Preprocessing, save_checkpoint
from landmark_tag.gazetteer import Place

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
