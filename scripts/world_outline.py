"""Rebuild `landmark_tag/report/world-110m.txt`, the world outline the report's map draws.

The outline is Natural Earth's 1:110m countries (public domain, "Made with Natural Earth"), as the
geopandas 0.14.4 wheel ships them; pyshp reads the shapefile. Neither is needed at run time:

    pip download geopandas==0.14.4 --no-deps -d /tmp/ne && pip install pyshp
    python scripts/world_outline.py /tmp/ne/geopandas-0.14.4-py3-none-any.whl

The file is one SVG path in tenths of a degree (x = longitude, y = -latitude), relative moves, so
that the report can draw it in any view with a transform.
"""

from __future__ import annotations

import io
import itertools
import sys
import zipfile
from pathlib import Path

import shapefile  # pyshp

TARGET = Path(__file__).resolve().parents[1] / "landmark_tag" / "report" / "world-110m.txt"
MEMBER = "geopandas/datasets/naturalearth_lowres/naturalearth_lowres"


def ring_path(points: list[tuple[float, float]]) -> str:
    """One ring as `M x y l dx dy ... z` in whole tenths of a degree, repeated points dropped."""
    tenths = [(round(lon * 10), round(-lat * 10)) for lon, lat in points]
    kept = [p for i, p in enumerate(tenths) if i == 0 or p != tenths[i - 1]]
    if len(kept) < 3:
        return ""
    steps = " ".join(f"{b[0] - a[0]} {b[1] - a[1]}" for a, b in itertools.pairwise(kept))
    return f"M{kept[0][0]} {kept[0][1]}l{steps}z"


def main(wheel: str) -> None:
    with zipfile.ZipFile(wheel) as archive:
        files = {ext: io.BytesIO(archive.read(f"{MEMBER}.{ext}")) for ext in ("shp", "shx", "dbf")}
    reader = shapefile.Reader(**files)
    paths = []
    for shape in reader.shapes():
        bounds = [*shape.parts, len(shape.points)]
        for start, end in itertools.pairwise(bounds):
            paths.append(ring_path(shape.points[start:end]))
    TARGET.write_text("".join(p for p in paths if p) + "\n", encoding="ascii")
    print(f"{TARGET}: {TARGET.stat().st_size:,} bytes from {len(reader)} countries")


if __name__ == "__main__":
    main(sys.argv[1])
