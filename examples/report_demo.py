"""A report of generated photos, and a screenshot of it in headless Chromium (for the README).

    python examples/report_demo.py MODEL.pt OUT_DIR

Draws a few dozen landscape-like pictures (sky, ground, a building's silhouette), adds one photo
with GPS in its EXIF and one broken file, scans them with MODEL.pt, writes OUT_DIR/report.html and
saves OUT_DIR/report.jpg, a screenshot. The pictures are made up: however monument-like, a model
should find none of its landmarks in them, and the report shows them as `no_landmark`.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import ExifTags, Image, ImageDraw, TiffImagePlugin

from landmark_tag import ScanConfig, scan
from landmark_tag.report.build import ReportConfig, build_report


def landscape(seed: int, size=(640, 480)) -> Image.Image:
    rng = np.random.default_rng(seed)
    width, height = size
    horizon = int(height * rng.uniform(0.55, 0.8))
    sky_top, sky_bottom = rng.uniform(40, 255, 3), rng.uniform(150, 255, 3)
    ground = rng.uniform(30, 160, 3)
    t = np.linspace(0, 1, height)[:, None, None]
    array = np.where(np.arange(height)[:, None, None] < horizon, sky_top + (sky_bottom - sky_top) * t, ground)
    array = np.broadcast_to(array, (height, width, 3)).copy()
    image = Image.fromarray(np.clip(array + rng.normal(0, 6, array.shape), 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    shade = tuple(int(v) for v in rng.uniform(20, 120, 3))
    centre, base = int(width * rng.uniform(0.3, 0.7)), horizon + 5
    kind = seed % 3
    if kind == 0:  # a pyramid
        half = int(width * rng.uniform(0.15, 0.3))
        draw.polygon(
            [(centre - half, base), (centre + half, base), (centre, base - int(half * 0.9))], fill=shade
        )
    elif kind == 1:  # a tower
        half = int(width * rng.uniform(0.04, 0.08))
        draw.rectangle([centre - half, base - int(height * 0.6), centre + half, base], fill=shade)
    else:  # an arch
        half = int(width * rng.uniform(0.15, 0.25))
        draw.rectangle([centre - half, base - half, centre + half, base], fill=shade)
        draw.ellipse(
            [centre - half // 2, base - half // 1.3, centre + half // 2, base + half // 2],
            fill=tuple(ground.astype(int)),
        )
    return image


def gps_exif(latitude: float, longitude: float) -> bytes:
    exif = Image.Exif()
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef], gps[ExifTags.GPS.GPSLongitudeRef] = "N", "E"
    gps[ExifTags.GPS.GPSLatitude] = (TiffImagePlugin.IFDRational(latitude), 0.0, 0.0)
    gps[ExifTags.GPS.GPSLongitude] = (TiffImagePlugin.IFDRational(longitude), 0.0, 0.0)
    return exif.tobytes()


model, out_dir = sys.argv[1], Path(sys.argv[2])
photos = out_dir / "photos"
shutil.rmtree(photos, ignore_errors=True)
photos.mkdir(parents=True)
for i in range(10):
    landscape(i).save(photos / f"IMG_{i:04d}.jpg", quality=88)
landscape(99).save(photos / "IMG_0100.jpg", quality=88, exif=gps_exif(41.89, 12.49))
(photos / "IMG_0101.jpg").write_bytes(b"\xff\xd8\xff\xe0 cut off in the middle of the upload")

tags = out_dir / "tags.parquet"
summary = scan(ScanConfig([str(photos)], str(tags), model=model, full=True))
report = out_dir / "report.html"
title = "landmark-tag report: demo"
build_report(ReportConfig(str(tags), str(report), throughput=summary.photos_per_second, title=title))
shot = out_dir / "report.png"
chromium = shutil.which("chromium") or shutil.which("chromium-browser")
browser = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
page = [f"--user-data-dir={out_dir / 'chromium'}", "--window-size=1200,1500", f"--screenshot={shot}"]
subprocess.run([*browser, *page, report.resolve().as_uri()], check=True, capture_output=True)
with Image.open(shot) as image:
    image.convert("RGB").save(out_dir / "report.jpg", quality=80, optimize=True)
print(f"{summary.counts}; report: {report}; screenshot: {out_dir / 'report.jpg'}")
