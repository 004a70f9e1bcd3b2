"""A picture of predictions: each photo beside its top-k landmarks as labelled bars."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from landmark_tag.files.images import DecodeError, load_rgb, register_heif
from landmark_tag.pipeline.execute.predict import ImagePrediction

_PHOTO_HEIGHT = 320
_PANEL_WIDTH = 420
_BAR_COLOUR = (66, 133, 244)


def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """DejaVu Sans, which matplotlib ships: full Latin coverage (Chichén Itzá, Haleakalā, Wrocław),
    where Pillow's default font draws boxes. Pillow's font only if it is missing."""
    import matplotlib

    path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    try:
        return ImageFont.truetype(str(path), size)
    except OSError:
        return ImageFont.load_default(size=size)


def fitted_photo(path: str) -> Image.Image:
    """The photo scaled, up or down, to the row's height (at most twice as wide), so that photos of
    every size are drawn alike; a grey square for one that cannot be read."""
    try:
        image = load_rgb(path, draft_size=2 * _PHOTO_HEIGHT)
    except DecodeError:
        return Image.new("RGB", (_PHOTO_HEIGHT, _PHOTO_HEIGHT), (200, 200, 200))
    scale = min(2 * _PHOTO_HEIGHT / image.width, _PHOTO_HEIGHT / image.height)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS)


def render_predictions(predictions: Sequence[ImagePrediction], out: str | os.PathLike) -> None:
    """Save one PNG (or any format Pillow writes) with a row per photo: the photo, then its top-k."""
    register_heif()
    large, small = font(18), font(14)
    rows = []
    for prediction in predictions:
        photo = fitted_photo(prediction.path)
        row = Image.new("RGB", (photo.width + _PANEL_WIDTH, _PHOTO_HEIGHT), "white")
        row.paste(photo, (0, (_PHOTO_HEIGHT - photo.height) // 2))
        draw = ImageDraw.Draw(row)
        x0 = photo.width + 16
        draw.text((x0, 8), os.path.basename(prediction.path), fill="black", font=small)
        if prediction.error:
            draw.text((x0, 40), f"failed: {prediction.error}", fill=(180, 0, 0), font=small)
        elif prediction.status != "tagged":  # said plainly, so a picture is never taken for a tag
            verdict = prediction.status.replace("_", " ")
            draw.text((x0, _PHOTO_HEIGHT - 28), f"{verdict}: no location", fill=(150, 80, 0), font=small)
        for rank, guess in enumerate(prediction.guesses):
            y = 40 + rank * 56
            draw.text((x0, y), f"{guess.landmark}  {guess.probability:.1%}", fill="black", font=large)
            bar_width = int((_PANEL_WIDTH - 40) * guess.probability)
            draw.rectangle((x0, y + 26, x0 + max(bar_width, 1), y + 40), fill=_BAR_COLOUR)
        rows.append(row)
    width = max((r.width for r in rows), default=_PANEL_WIDTH)
    sheet = Image.new("RGB", (width, _PHOTO_HEIGHT * max(len(rows), 1)), "white")
    for i, row in enumerate(rows):
        sheet.paste(row, (0, i * _PHOTO_HEIGHT))
    sheet.save(out)
