import pyarrow as pa

from landmark_tag.pipeline.commit.merge import _write_sidecars
from landmark_tag.pipeline.execute.sidecar import SidecarTag, SidecarWriter, merge_sidecar
from landmark_tag.pipeline.execute.xmp import xmp_coordinate

PETRA = (30.3285, 35.4444)


def before(rows: list[dict]) -> pa.Table:
    """The staged rows as the commit reads them: status, the landmark's place, the earlier location."""
    return pa.Table.from_pylist(
        [
            {
                "path": row["path"],
                "status": row.get("status", "no_landmark"),
                "estimated_latitude": row.get("landmark", (None, None))[0],
                "estimated_longitude": row.get("landmark", (None, None))[1],
                "location_source": row.get("source"),
                "location_latitude": row.get("at", (None, None))[0],
                "location_longitude": row.get("at", (None, None))[1],
            }
            for row in rows
        ]
    )


def after(rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(
        [
            {
                "location_source": row.get("source"),
                "location_latitude": row.get("at", (None, None))[0],
                "location_longitude": row.get("at", (None, None))[1],
                "location_radius_m": row.get("radius"),
            }
            for row in rows
        ],
        schema=pa.schema(
            [
                ("location_source", pa.string()),
                ("location_latitude", pa.float64()),
                ("location_longitude", pa.float64()),
                ("location_radius_m", pa.float64()),
            ]
        ),
    )


def test_each_sidecar_is_brought_to_the_location_that_now_holds(tmp_path):
    paths = {name: tmp_path / f"{name}.jpg" for name in ("disagree", "to_landmark", "own_gps", "same")}
    for path in paths.values():
        path.write_bytes(b"")
    landmark_tag = merge_sidecar(None, SidecarTag("Petra", *PETRA))
    by_time = merge_sidecar(None, SidecarTag(None, 30.33, 35.45, method="landmark-tag: time, within 80 m"))
    (tmp_path / "disagree.jpg.xmp").write_bytes(landmark_tag)  # its tagging wrote the landmark's place
    (tmp_path / "to_landmark.jpg.xmp").write_bytes(by_time)
    (tmp_path / "same.jpg.xmp").write_bytes(by_time)
    old = before(
        [
            {"path": str(paths["disagree"]), "status": "tagged", "landmark": PETRA},  # a new row
            {"path": str(paths["to_landmark"]), "status": "tagged", "landmark": PETRA, "source": "time",
             "at": (30.33, 35.45)},
            {"path": str(paths["own_gps"])},
            {"path": str(paths["same"]), "source": "time", "at": (30.33, 35.45)},
        ]
    )  # fmt: skip
    new = after(
        [
            {},  # the landmark and time disagree: no location
            {"source": "landmark", "at": PETRA, "radius": 2000.0},  # the fixes around it are gone
            {"source": "gps", "at": (1.0, 2.0), "radius": 20.0},
            {"source": "time", "at": (30.33, 35.45), "radius": 80.0},
        ]
    )
    writer = SidecarWriter()
    _write_sidecars(old, new, writer)
    assert (writer.stats.written, writer.stats.unchanged, writer.stats.failed) == (2, 0, 0)
    disagree = (tmp_path / "disagree.jpg.xmp").read_text()
    assert "GPSLatitude" not in disagree and "<rdf:li>Petra</rdf:li>" in disagree
    to_landmark = (tmp_path / "to_landmark.jpg.xmp").read_text()
    assert xmp_coordinate(PETRA[0], "N", "S") in to_landmark
    assert "<exif:GPSProcessingMethod>landmark-tag: landmark</exif:GPSProcessingMethod>" in to_landmark
    assert not (tmp_path / "own_gps.jpg.xmp").exists()
    assert (tmp_path / "same.jpg.xmp").read_bytes() == by_time
