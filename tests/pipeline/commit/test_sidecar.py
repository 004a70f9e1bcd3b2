import json
import os
import shutil
import subprocess
import time

import pytest
from lxml import etree

from landmark_tag.pipeline.commit.sidecar import REMOVE_LOCATION, SidecarError, SidecarTag, merge_sidecar
from landmark_tag.pipeline.commit.sidecar_files import SidecarWriter, sidecar_path, write_sidecar
from landmark_tag.pipeline.commit.xmp import PREFIXES, xmp_coordinate

EIFFEL = SidecarTag("Eiffel Tower", 48.8584, 2.2945)
TAJ = SidecarTag("Taj Mahal", 27.1751, 78.0421)

# A sidecar as photo software writes it: a rating, a title, keywords, properties as attributes.
EXISTING = """<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="Some Editor 1.0">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:darktable="http://darktable.sf.net/"
   xmp:Rating="4" darktable:history_end="3">
   <dc:title><rdf:Alt><rdf:li xml:lang="x-default">Holiday</rdf:li></rdf:Alt></dc:title>
   <dc:subject><rdf:Bag><rdf:li>holiday</rdf:li><rdf:li>family</rdf:li></rdf:Bag></dc:subject>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>""".encode()


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def read(content: bytes) -> dict:
    """Keywords, GPS and other fields, read with XPath over the namespaces (not by string matching)."""
    root = etree.fromstring(content)
    ns = {**PREFIXES, "xmp": "http://ns.adobe.com/xap/1.0/"}

    def simple(name):
        values = root.xpath(f"//rdf:Description/@{name} | //rdf:Description/{name}/text()", namespaces=ns)
        return values[0] if values else None

    return {
        "keywords": root.xpath("//dc:subject/rdf:Bag/rdf:li/text()", namespaces=ns),
        "latitude": simple("exif:GPSLatitude"),
        "longitude": simple("exif:GPSLongitude"),
        "rating": simple("xmp:Rating"),
        "title": root.xpath("//dc:title//rdf:li/text()", namespaces=ns),
    }


def test_xmp_coordinates():
    assert xmp_coordinate(48.8584, "N", "S") == "48,51.504000N"
    assert xmp_coordinate(-33.8568, "N", "S") == "33,51.408000S"
    assert xmp_coordinate(-122.4783, "E", "W") == "122,28.698000W"
    assert xmp_coordinate(10.99999999999, "N", "S") == "11,0.000000N"


def test_new_sidecar_has_keyword_and_location():
    content = merge_sidecar(None, EIFFEL)
    assert content.startswith(b"<?xpacket begin=")
    assert read(content) == {
        "keywords": ["Eiffel Tower"],
        "latitude": "48,51.504000N",
        "longitude": "2,17.670000E",
        "rating": None,
        "title": [],
    }


def test_merge_keeps_other_fields_and_keywords():
    merged = read(merge_sidecar(EXISTING, EIFFEL))
    assert merged["keywords"] == ["holiday", "family", "Eiffel Tower"]
    assert merged["rating"] == "4" and merged["title"] == ["Holiday"]
    assert merged["latitude"] == "48,51.504000N"
    assert b'darktable:history_end="3"' in merge_sidecar(EXISTING, EIFFEL)


def test_rerun_is_idempotent_and_a_new_answer_replaces_only_ours():
    once = merge_sidecar(EXISTING, EIFFEL)
    assert merge_sidecar(once, EIFFEL) == once
    changed = read(merge_sidecar(once, TAJ))
    assert changed["keywords"] == ["holiday", "family", "Taj Mahal"]
    assert changed["latitude"] == "27,10.506000N"


def test_coordinates_set_by_someone_else_are_kept():
    own_gps = merge_sidecar(None, EIFFEL).replace(b"landmarktag:Location", b"landmarktag:Elsewhere")
    kept = read(merge_sidecar(own_gps, TAJ))
    assert kept["latitude"] == "48,51.504000N"  # not ours any more, so not overwritten
    assert "Taj Mahal" in kept["keywords"]


def test_a_keyword_the_user_had_is_not_removed_later():
    user = EXISTING.replace(b"<rdf:li>family</rdf:li>", b"<rdf:li>Eiffel Tower</rdf:li>")
    once = merge_sidecar(user, EIFFEL)
    assert read(once)["keywords"] == ["holiday", "Eiffel Tower"]
    assert read(merge_sidecar(once, TAJ))["keywords"] == ["holiday", "Eiffel Tower", "Taj Mahal"]


def test_keyword_only_when_the_landmark_has_no_place():
    merged = read(merge_sidecar(EXISTING, SidecarTag("Grey Tower")))
    assert merged["keywords"][-1] == "Grey Tower" and merged["latitude"] is None


def test_broken_sidecar_is_refused_not_overwritten(tmp_path):
    photo = tmp_path / "a.jpg"
    photo.write_bytes(b"jpeg")
    broken = tmp_path / "a.jpg.xmp"
    broken.write_bytes(b"<x:xmpmeta><unclosed>")
    with pytest.raises(SidecarError, match="not well-formed"):
        write_sidecar(str(photo), EIFFEL)
    assert broken.read_bytes() == b"<x:xmpmeta><unclosed>"


@pytest.mark.parametrize("entity", ['SYSTEM "file://{secret}"', '"&#169; someone"'])
def test_a_sidecar_with_a_dtd_is_left_alone_and_never_expanded(tmp_path, entity):
    secret = tmp_path / "secret.txt"
    secret.write_text("do not copy me")
    declaration = entity.format(secret=secret)
    hostile = f"""<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e {declaration}>]>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="{PREFIXES["rdf"]}"><rdf:Description rdf:about=""
 xmlns:dc="{PREFIXES["dc"]}"><dc:description>&e;</dc:description></rdf:Description></rdf:RDF></x:xmpmeta>"""
    photo = tmp_path / "a.jpg"
    photo.write_bytes(b"jpeg")
    (tmp_path / "a.jpg.xmp").write_text(hostile)
    with pytest.raises(SidecarError, match="declares a DTD"):
        write_sidecar(str(photo), EIFFEL)
    assert (tmp_path / "a.jpg.xmp").read_text() == hostile  # not rewritten into an invalid file


@pytest.mark.timeout(30)
def test_only_regular_writable_sidecars_are_read_and_merged(tmp_path):
    """A FIFO would block the scan forever, a link to /dev/zero would fill memory; a link or a
    read-only file is someone's arrangement. All are left alone with a reason, quickly."""
    photos = {}
    for name in ("fifo", "zero", "link", "readonly", "huge"):
        photos[name] = tmp_path / f"{name}.jpg"
        photos[name].write_bytes(b"jpeg")
    os.mkfifo(tmp_path / "fifo.jpg.xmp")
    os.symlink("/dev/zero", tmp_path / "zero.jpg.xmp")
    (tmp_path / "elsewhere.xmp").write_bytes(EXISTING)
    os.symlink(tmp_path / "elsewhere.xmp", tmp_path / "link.jpg.xmp")
    (tmp_path / "readonly.jpg.xmp").write_bytes(EXISTING)
    os.chmod(tmp_path / "readonly.jpg.xmp", 0o444)
    (tmp_path / "huge.jpg.xmp").write_bytes(b" " * (2 << 20))
    reasons = {
        "fifo": "not a regular file",
        "zero": "symbolic link",
        "link": "symbolic link",
        "readonly": "read-only",
        "huge": "too large",
    }
    for name, reason in reasons.items():
        with pytest.raises(SidecarError, match=reason):
            write_sidecar(str(photos[name]), EIFFEL)
    assert (tmp_path / "elsewhere.xmp").read_bytes() == EXISTING
    assert (tmp_path / "readonly.jpg.xmp").read_bytes() == EXISTING
    assert os.path.islink(tmp_path / "link.jpg.xmp")


def test_sidecar_naming(tmp_path):
    photo = tmp_path / "IMG_1.jpg"
    assert sidecar_path(str(photo)) == f"{photo}.xmp"
    (tmp_path / "IMG_1.xmp").write_bytes(EXISTING)
    assert sidecar_path(str(photo)) == str(tmp_path / "IMG_1.xmp")  # adopt the existing one
    (tmp_path / "IMG_1.jpg.xmp").write_bytes(EXISTING)
    assert sidecar_path(str(photo)) == f"{photo}.xmp"


def test_write_sidecar_changes_only_the_sidecar(tmp_path):
    photo = tmp_path / "IMG_1.jpg"
    photo.write_bytes(b"original bytes")
    assert write_sidecar(str(photo), EIFFEL) is True
    sidecar = tmp_path / "IMG_1.jpg.xmp"
    first = sidecar.stat()
    assert write_sidecar(str(photo), EIFFEL) is False  # unchanged: not rewritten
    assert sidecar.stat().st_mtime_ns == first.st_mtime_ns
    assert oct(first.st_mode & 0o777) == oct(0o666 & ~current_umask())
    assert photo.read_bytes() == b"original bytes"
    assert sorted(os.listdir(tmp_path)) == ["IMG_1.jpg", "IMG_1.jpg.xmp"]


def test_writer_counts_failures_and_goes_on(tmp_path):
    (tmp_path / "a.jpg.xmp").mkdir()  # a sidecar that cannot be written: a folder is in the way
    for name in ("a", "b", "c"):
        (tmp_path / f"{name}.jpg").write_bytes(b"")
    (tmp_path / "c.jpg.xmp").write_bytes(merge_sidecar(None, EIFFEL))
    tags = [(str(tmp_path / f"{name}.jpg"), EIFFEL) for name in ("a", "b", "c", "gone")]
    writer = SidecarWriter()
    writer.write_tags(tags, threads=2)
    stats = writer.stats
    assert (stats.written, stats.unchanged, stats.failed) == (1, 1, 1)  # "gone" is passed over
    assert stats.problems[0].startswith(str(tmp_path / "a.jpg"))
    assert sorted(p.name for p in tmp_path.glob("*.xmp")) == ["a.jpg.xmp", "b.jpg.xmp", "c.jpg.xmp"]


def test_photos_that_share_a_sidecar_are_written_in_turn(tmp_path, monkeypatch):
    # IMG_n.jpg and IMG_n.cr2 with only IMG_n.xmp (Lightroom's naming) share it: written at once,
    # from two threads, the second write would drop the first's keyword or location.
    from landmark_tag.pipeline.commit import sidecar_files as module

    read = module.read_existing_sidecar

    def slow_read(path, storage_options=None):
        content = read(path, storage_options)
        time.sleep(0.02)  # the moment another thread would read the same file
        return content

    monkeypatch.setattr(module, "read_existing_sidecar", slow_read)
    tags = []
    for n in range(4):
        for suffix in ("jpg", "cr2"):
            (tmp_path / f"IMG_{n}.{suffix}").write_bytes(b"")
        (tmp_path / f"IMG_{n}.xmp").write_bytes(EXISTING)
        by_time = SidecarTag(None, 48.8584, 2.2945, method="landmark-tag: time, within 80 m")
        tags += [
            (str(tmp_path / f"IMG_{n}.jpg"), by_time),
            (str(tmp_path / f"IMG_{n}.cr2"), SidecarTag("Louvre")),
        ]
    writer = SidecarWriter()
    writer.write_tags(tags, threads=8)
    assert writer.stats.written == 8
    for n in range(4):
        content = (tmp_path / f"IMG_{n}.xmp").read_text()
        assert "within 80 m" in content and "<rdf:li>Louvre</rdf:li>" in content


def test_a_country_set_by_hand_is_kept_and_our_own_is_replaced():
    own = merge_sidecar(None, SidecarTag("Taj Mahal", 27.1751, 78.0421, "IN"))
    assert b"<photoshop:Country>India</photoshop:Country>" in own
    assert b"<Iptc4xmpCore:CountryCode>IN</Iptc4xmpCore:CountryCode>" in own
    moved = merge_sidecar(own, SidecarTag("Eiffel Tower", 48.8584, 2.2945, "FR"))
    assert b">France<" in moved and b">FR<" in moved and b"India" not in moved
    by_hand = moved.replace(b">France<", b">Frankreich<")
    kept = merge_sidecar(by_hand, SidecarTag("Taj Mahal", 27.1751, 78.0421, "IN"))
    assert b">Frankreich<" in kept and b"India" not in kept


@pytest.mark.skipif(
    shutil.which("exiftool") is None, reason="exiftool (libimage-exiftool-perl) is not installed"
)
def test_exiftool_reads_back_keyword_and_coordinates(tmp_path):
    photo = tmp_path / "IMG_2.jpg"
    photo.write_bytes(b"not read")
    (tmp_path / "IMG_2.jpg.xmp").write_bytes(EXISTING)
    write_sidecar(str(photo), SidecarTag("Sydney Opera House", -33.8568, 151.2153, "AU"))
    write_sidecar(str(photo), SidecarTag("Sydney Opera House", -33.8568, 151.2153, "AU"))
    output = subprocess.run(
        ["exiftool", "-json", "-n", "-XMP:Subject", "-XMP:GPSLatitude", "-XMP:GPSLongitude", "-XMP:Rating",
         "-XMP-photoshop:Country", "-XMP-iptcCore:CountryCode", "-XMP-exif:GPSProcessingMethod",
         str(tmp_path / "IMG_2.jpg.xmp")],
        capture_output=True, check=True, text=True,
    ).stdout  # fmt: skip
    (tags,) = json.loads(output)
    assert tags["Subject"] == ["holiday", "family", "Sydney Opera House"]
    assert tags["GPSLatitude"] == pytest.approx(-33.8568, abs=1e-6)
    assert tags["GPSLongitude"] == pytest.approx(151.2153, abs=1e-6)
    assert tags["Rating"] == 4
    assert (tags["Country"], tags["CountryCode"]) == ("Australia", "AU")  # as photo managers read them
    assert tags["GPSProcessingMethod"] == "landmark-tag: landmark"  # an estimate, not a fix


@pytest.mark.skipif(
    shutil.which("exiftool") is None, reason="exiftool (libimage-exiftool-perl) is not installed"
)
def test_exiftool_reads_back_the_iptc_place_and_a_place_set_by_hand_survives(tmp_path):
    photo = tmp_path / "IMG_7.jpg"
    photo.write_bytes(b"not read")
    sidecar = tmp_path / "IMG_7.jpg.xmp"
    sidecar.write_bytes(EXISTING)
    colosseum = SidecarTag("Colosseum", 41.8902, 12.4922, "IT", region="Lazio", city="Rome")
    write_sidecar(str(photo), colosseum)

    def read_back() -> dict:
        output = subprocess.run(
            ["exiftool", "-json", "-XMP-photoshop:City", "-XMP-photoshop:State", "-XMP-photoshop:Country",
             "-XMP-iptcCore:CountryCode", "-XMP-iptcCore:Location", "-XMP:Subject", str(sidecar)],
            capture_output=True, check=True, text=True,
        ).stdout  # fmt: skip
        return json.loads(output)[0]

    tags = read_back()
    assert (tags["City"], tags["State"], tags["Country"], tags["CountryCode"]) == (
        "Rome",
        "Lazio",
        "Italy",
        "IT",
    )
    assert tags["Location"] == "Colosseum"
    # A person corrects the city with exiftool; a later answer of ours leaves it (and the region) alone.
    subprocess.run(["exiftool", "-overwrite_original", "-XMP-photoshop:City=Roma", str(sidecar)], check=True)
    write_sidecar(str(photo), SidecarTag("Colosseum", 41.8902, 12.4922, "IT", region="Lazio", city="Rome 2"))
    tags = read_back()
    assert (tags["City"], tags["State"]) == ("Roma", "Lazio")
    assert "holiday" in tags["Subject"]  # everything else of theirs stays
    # Our own names are replaced by a new answer, and leave with the location.
    write_sidecar(str(photo), colosseum)
    fresh = tmp_path / "IMG_8.jpg"
    fresh.write_bytes(b"")
    write_sidecar(
        str(fresh),
        SidecarTag(None, 53.25, -3.13, "GB", method="landmark-tag: track", region="Wales", city="Flint"),
    )
    write_sidecar(
        str(fresh),
        SidecarTag(None, 53.19, -2.89, "GB", method="landmark-tag: track", region=None, city="Chester"),
    )
    moved = (tmp_path / "IMG_8.jpg.xmp").read_text()
    assert "Chester" in moved and "Flint" not in moved and "Wales" not in moved
    write_sidecar(str(fresh), REMOVE_LOCATION)
    assert not (tmp_path / "IMG_8.jpg.xmp").exists()  # nothing else was in it: no empty shell


@pytest.mark.skipif(
    shutil.which("exiftool") is None, reason="exiftool (libimage-exiftool-perl) is not installed"
)
def test_exiftool_reads_the_radius_as_a_number_and_it_leaves_with_the_location(tmp_path):
    photo = tmp_path / "IMG_4.jpg"
    photo.write_bytes(b"not read")
    (tmp_path / "IMG_4.jpg.xmp").write_bytes(EXISTING)  # with a rating: the file stays
    by_time = SidecarTag(None, 50.88, 4.32, method="landmark-tag: time, within 31 m", radius_m=31.2)
    write_sidecar(str(photo), by_time)

    def read_back() -> dict:
        output = subprocess.run(
            ["exiftool", "-json", "-n", "-XMP-exif:GPSHPositioningError", "-XMP:GPSLatitude",
             str(tmp_path / "IMG_4.jpg.xmp")],
            capture_output=True, check=True, text=True,
        ).stdout  # fmt: skip
        return json.loads(output)[0]

    assert read_back()["GPSHPositioningError"] == 31
    write_sidecar(str(photo), REMOVE_LOCATION)
    assert "GPSHPositioningError" not in read_back() and "GPSLatitude" not in read_back()


def test_a_location_says_how_it_was_found_and_a_location_by_time_adds_no_keyword():
    landmark = merge_sidecar(None, SidecarTag("Petra", 30.3285, 35.4444, "JO"))
    assert b"<exif:GPSProcessingMethod>landmark-tag: landmark</exif:GPSProcessingMethod>" in landmark
    by_time = merge_sidecar(
        landmark, SidecarTag(None, 30.33, 35.45, method="landmark-tag: time, within 80 m")
    )
    assert b"<exif:GPSProcessingMethod>landmark-tag: time, within 80 m</exif:GPSProcessingMethod>" in by_time
    assert by_time.count(b"<rdf:li>Petra</rdf:li>") == 1  # the keyword stays as it was
    assert b"30,19.800000N" in by_time
    # Coordinates set by hand are kept, and so is the method they came with.
    by_hand = landmark.replace(b"<exif:GPSLatitude>30,19.710000N", b"<exif:GPSLatitude>30,19.000000N")
    kept = merge_sidecar(by_hand, SidecarTag(None, 30.33, 35.45, method="landmark-tag: time, within 80 m"))
    assert b"30,19.000000N" in kept and b"landmark-tag: time" not in kept


def test_a_location_that_no_longer_holds_is_taken_out_unless_changed_by_hand(tmp_path):
    ours = merge_sidecar(EXISTING, SidecarTag(None, 30.33, 35.45, method="landmark-tag: time, within 80 m"))
    ours = merge_sidecar(ours, SidecarTag(None, country_code="FR"))
    removed = merge_sidecar(ours, REMOVE_LOCATION)
    assert read(removed)["latitude"] is None and read(removed)["longitude"] is None
    assert b"CountryCode" not in removed and b"photoshop:Country" not in removed  # ours went with it
    assert b"GPSProcessingMethod" not in removed and b"landmarktag:Location" not in removed
    assert read(removed)["keywords"] == ["holiday", "family"] and read(removed)["rating"] == "4"
    by_hand = ours.replace(b"<exif:GPSLatitude>30,19.800000N", b"<exif:GPSLatitude>30,19.000000N")
    assert read(merge_sidecar(by_hand, REMOVE_LOCATION))["latitude"] == "30,19.000000N"
    # No sidecar: none is started just to say there is nothing.
    assert write_sidecar(str(tmp_path / "a.jpg"), REMOVE_LOCATION) is None
    assert not (tmp_path / "a.jpg.xmp").exists()


@pytest.mark.skipif(
    shutil.which("exiv2") is None, reason="exiv2 (the library digiKam reads metadata with) not installed"
)
def test_exiv2_reads_the_location_and_how_it_was_found(tmp_path):
    # digiKam reads sidecars through Exiv2, which maps the XMP location onto the EXIF GPS fields.
    photo = tmp_path / "IMG_3.jpg"
    photo.write_bytes(b"not read")
    write_sidecar(
        str(photo),
        SidecarTag(None, 50.8812, -4.3285, method="landmark-tag: track, within 33 m", radius_m=33.4),
    )
    output = subprocess.run(
        ["exiv2", "-PEXkt", str(tmp_path / "IMG_3.jpg.xmp")], capture_output=True, check=True, text=True
    ).stdout
    tags = dict(line.split(None, 1) for line in output.splitlines() if " " in line.strip())
    # The radius as a number too, in the property EXIF 2.3 keeps a position's error in (metres).
    assert tags["Xmp.exif.GPSHPositioningError"].strip() == "33/1"
    assert tags["Exif.GPSInfo.GPSProcessingMethod"].strip() == "landmark-tag: track, within 33 m"
    assert tags["Xmp.exif.GPSProcessingMethod"].strip() == "landmark-tag: track, within 33 m"
    assert tags["Exif.GPSInfo.GPSLatitudeRef"].strip() == "North"
    assert tags["Exif.GPSInfo.GPSLongitudeRef"].strip() == "West"
    assert tags["Exif.GPSInfo.GPSLatitude"].startswith("50deg 52'")


def test_a_sidecar_with_nothing_of_ours_to_change_stays_byte_for_byte(tmp_path):
    # As exiftool writes XML (single quotes, a namespace on each description): the same values.
    photo = tmp_path / "IMG_5.jpg"
    photo.write_bytes(b"")
    tag = SidecarTag("Petra", 30.3285, 35.4444, "JO")
    styled = merge_sidecar(None, tag).replace(b'"', b"'").replace(b"<rdf:Description", b"<rdf:Description\n ")
    (tmp_path / "IMG_5.jpg.xmp").write_bytes(styled)
    assert write_sidecar(str(photo), tag) is False
    assert (tmp_path / "IMG_5.jpg.xmp").read_bytes() == styled


def test_a_sidecar_left_with_nothing_in_it_is_removed_not_left_as_a_shell(tmp_path):
    photo = tmp_path / "IMG_6.jpg"
    photo.write_bytes(b"")
    write_sidecar(
        str(photo), SidecarTag(None, 50.88, 4.32, method="landmark-tag: time, within 31 m", radius_m=31)
    )
    assert (tmp_path / "IMG_6.jpg.xmp").exists()
    assert write_sidecar(str(photo), REMOVE_LOCATION) is True
    assert not (tmp_path / "IMG_6.jpg.xmp").exists()
    # One that holds anything else stays.
    (tmp_path / "IMG_6.jpg.xmp").write_bytes(EXISTING)
    write_sidecar(str(photo), SidecarTag(None, 50.88, 4.32, method="landmark-tag: time, within 31 m"))
    write_sidecar(str(photo), REMOVE_LOCATION)
    assert read((tmp_path / "IMG_6.jpg.xmp").read_bytes())["rating"] == "4"
