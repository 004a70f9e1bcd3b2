import pyarrow as pa

from landmark_tag.pipeline.commit.sidecar import SidecarTag, merge_sidecar
from landmark_tag.pipeline.commit.sidecar_files import SidecarWriter
from landmark_tag.pipeline.commit.sidecar_sync import sync_sidecars
from landmark_tag.pipeline.commit.xmp import xmp_coordinate

PETRA = (30.3285, 35.4444)


def before(rows: list[dict]) -> pa.Table:
    """The staged rows as the commit reads them: status, the landmark's place, the earlier location."""
    return pa.Table.from_pylist(
        [
            {
                "path": row["path"],
                "status": row.get("status", "no_landmark"),
                "landmark_1": row.get("name"),
                "estimated_country": row.get("country"),
                "estimated_latitude": row.get("landmark", (None, None))[0],
                "estimated_longitude": row.get("landmark", (None, None))[1],
                "location_source": row.get("source"),
                "location_latitude": row.get("at", (None, None))[0],
                "location_longitude": row.get("at", (None, None))[1],
                "location_note": row.get("note"),
                "named_place": row.get("named"),
            }
            for row in rows
        ],
        schema=pa.schema(
            [(name, pa.string()) for name in ("path", "status", "landmark_1", "estimated_country")]
            + [(name, pa.float64()) for name in ("estimated_latitude", "estimated_longitude")]
            + [("location_source", pa.string())]
            + [(name, pa.float64()) for name in ("location_latitude", "location_longitude")]
            + [("location_note", pa.string()), ("named_place", pa.string())]
        ),
    )


def after(rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(
        [
            {
                "location_source": row.get("source"),
                "location_latitude": row.get("at", (None, None))[0],
                "location_longitude": row.get("at", (None, None))[1],
                "location_radius_m": row.get("radius"),
                "place_country": row.get("place"),
                "place_region": row.get("region"),
                "place_city": row.get("city"),
                "named_place": row.get("named"),
            }
            for row in rows
        ],
        schema=pa.schema(
            [
                ("location_source", pa.string()),
                ("location_latitude", pa.float64()),
                ("location_longitude", pa.float64()),
                ("location_radius_m", pa.float64()),
                ("place_country", pa.string()),
                ("place_region", pa.string()),
                ("place_city", pa.string()),
                ("named_place", pa.string()),
            ]
        ),
    )


def test_each_sidecar_is_brought_to_the_location_that_now_holds(tmp_path):
    names = ("to_landmark", "own_gps", "same", "disagree", "tagged_by_time", "tagged")
    paths = {name: tmp_path / f"{name}.jpg" for name in names}
    for path in paths.values():
        path.write_bytes(b"")
    earlier_landmark = merge_sidecar(None, SidecarTag("Petra", *PETRA))
    by_time = merge_sidecar(None, SidecarTag(None, 30.33, 35.45, method="landmark-tag: time, within 80 m"))
    (tmp_path / "disagree.jpg.xmp").write_bytes(earlier_landmark)  # from an earlier run
    (tmp_path / "to_landmark.jpg.xmp").write_bytes(by_time)
    (tmp_path / "same.jpg.xmp").write_bytes(by_time)
    petra = {"status": "tagged", "landmark": PETRA, "name": "Petra", "country": "JO"}
    old = before(
        [
            {"path": str(paths["to_landmark"]), **petra, "source": "time", "at": (30.33, 35.45)},
            {"path": str(paths["own_gps"])},
            {"path": str(paths["same"]), "source": "time", "at": (30.33, 35.45)},
            # tagged in this run (the parts' rows come last):
            {"path": str(paths["disagree"]), **petra},
            {"path": str(paths["tagged_by_time"]), **petra},
            {"path": str(paths["tagged"]), **petra},
        ]
    )
    new = after(
        [
            {"source": "landmark", "at": PETRA, "radius": 2000.0},  # the fixes around it are gone
            {"source": "gps", "at": (1.0, 2.0), "radius": 20.0},
            {"source": "time", "at": (30.33, 35.45), "radius": 80.0},
            {},  # the landmark and time disagree: no location
            {"source": "time", "at": (30.34, 35.46), "radius": 90.0},
            {"source": "landmark", "at": PETRA, "radius": 2000.0},
        ]
    )
    writer = SidecarWriter()
    sync_sidecars(old, new, 3, writer)
    assert (writer.stats.written, writer.stats.unchanged, writer.stats.failed) == (4, 0, 0)
    to_landmark = (tmp_path / "to_landmark.jpg.xmp").read_text()
    assert xmp_coordinate(PETRA[0], "N", "S") in to_landmark
    assert "<exif:GPSProcessingMethod>landmark-tag: landmark</exif:GPSProcessingMethod>" in to_landmark
    assert not (tmp_path / "own_gps.jpg.xmp").exists()
    assert (tmp_path / "same.jpg.xmp").read_bytes() == by_time
    disagree = (tmp_path / "disagree.jpg.xmp").read_text()
    assert "GPSLatitude" not in disagree and "<rdf:li>Petra</rdf:li>" in disagree
    assert ">JO<" not in disagree  # the landmark's country is as doubtful as its place
    by_time_now = (tmp_path / "tagged_by_time.jpg.xmp").read_text()
    assert "<rdf:li>Petra</rdf:li>" in by_time_now and xmp_coordinate(30.34, "N", "S") in by_time_now
    assert "landmark-tag: time, within 90 m" in by_time_now
    assert "<exif:GPSHPositioningError>90/1<" in by_time_now
    tagged = (tmp_path / "tagged.jpg.xmp").read_text()
    assert "<rdf:li>Petra</rdf:li>" in tagged and xmp_coordinate(PETRA[0], "N", "S") in tagged
    sync_sidecars(old, new, 3, again := SidecarWriter())  # a crash before the publish: written again
    assert (again.stats.written, again.stats.unchanged) == (0, 4)


def test_a_withheld_location_is_taken_out_once_and_then_left_alone(tmp_path):
    petra = {"status": "tagged", "landmark": PETRA, "name": "Petra", "country": "JO"}
    withheld = tmp_path / "withheld.jpg"
    legacy = tmp_path / "legacy.jpg"  # from an output older than the location columns
    for photo in (withheld, legacy):
        photo.write_bytes(b"")
        photo.with_name(photo.name + ".xmp").write_bytes(merge_sidecar(None, SidecarTag("Petra", *PETRA)))
    # Tagged in this run, the landmark and time disagree: the landmark's place comes out.
    sync_sidecars(before([{"path": str(withheld), **petra}]), after([{}]), 0, writer := SidecarWriter())
    assert (
        writer.stats.written == 1 and "GPSLatitude" not in withheld.with_name("withheld.jpg.xmp").read_text()
    )
    # The next commits: nothing changed, so no sidecar is read or written again.
    note = "landmark and time disagree"
    published = before([{"path": str(withheld), **petra, "note": note}, {"path": str(legacy), **petra}])
    sync_sidecars(published, after([{}, {}]), 2, again := SidecarWriter())
    assert (again.stats.written, again.stats.unchanged) == (1, 0)  # the legacy photo's, taken out
    assert "GPSLatitude" not in legacy.with_name("legacy.jpg.xmp").read_text()


def test_a_location_comes_with_its_place_and_says_when_landmarks_were_off(tmp_path):
    photo = tmp_path / "walk.jpg"
    photo.write_bytes(b"")
    located = {"source": "track", "at": (53.25, -3.13), "radius": 15.0, "place": "GB"}
    place = {"region": "Wales", "city": "Flint"}
    old = before([{"path": str(photo), "status": "landmarks_off"}])
    sync_sidecars(old, after([{**located, **place}]), 0, SidecarWriter())
    sidecar = (tmp_path / "walk.jpg.xmp").read_text()
    for field in ("<photoshop:State>Wales<", "<photoshop:City>Flint<", "<Iptc4xmpCore:CountryCode>GB<"):
        assert field in sidecar
    assert "<landmarktag:Landmarks>off<" in sidecar
    # A later scan with a model looked at it (no landmark): the sidecar no longer says it was off.
    looked = before([{"path": str(photo), "status": "no_landmark", **located}])
    sync_sidecars(looked, after([{**located, **place}]), 0, SidecarWriter())
    assert "Landmarks" not in (tmp_path / "walk.jpg.xmp").read_text()
    # The location is withdrawn: its place goes with it.
    sync_sidecars(looked, after([{}]), 1, SidecarWriter())
    sidecar = tmp_path / "walk.jpg.xmp"
    assert not sidecar.exists() or "Flint" not in sidecar.read_text()
