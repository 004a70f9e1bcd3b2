"""XMP sidecars (`--write-xmp`, written by the commit): the landmark and the location, for photo
software.

For a tagged photo `IMG_1234.jpg` the sidecar is `IMG_1234.jpg.xmp` (the darktable and digiKam
convention, which keeps `IMG_1234.jpg` and `IMG_1234.heic` apart). When only `IMG_1234.xmp` exists
(the Lightroom and Capture One convention), that file is updated instead of starting a second one.
The photo itself is never touched.

A sidecar gets the landmark's name as a keyword (dc:subject) and as Iptc4xmpCore:Location, the
location's coordinates as exif:GPSLatitude / exif:GPSLongitude, and the place it lies in as
Iptc4xmpCore:CountryCode, photoshop:Country, photoshop:State and photoshop:City (digiKam, darktable
and Lightroom read these). An existing sidecar is merged
with a namespace-aware XML parser: every other property and keyword stays as it was. Coordinates
and place names already in the sidecar are kept unless landmark-tag wrote them itself (it records
what it wrote under its own namespace), so a location set by hand is never overwritten; a re-run
with a new answer replaces the old one.

lxml rather than an XMP library: pyexiv2 installs, but rewrites dc:subject as an rdf:Seq (the XMP
specification makes it a Bag) and cannot start a sidecar from nothing; lxml keeps every other
element, attribute and namespace prefix of a sidecar exactly as it was.
"""

from __future__ import annotations

from dataclasses import dataclass

import pycountry
from lxml import etree

from landmark_tag.errors import LandmarkTagError
from landmark_tag.pipeline.commit.xmp import (
    NS_RDF,
    NS_X,
    descriptions,
    keyword_list,
    merge_own,
    qname,
    read_simple,
    remove_own,
    remove_simple,
    set_simple,
    xmp_coordinate,
)

_EMPTY_PACKET = f"""<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="{NS_X}"><rdf:RDF xmlns:rdf="{NS_RDF}"/></x:xmpmeta>
<?xpacket end="w"?>""".encode()
# Sidecars come from anywhere: never fetch or expand anything they point to.
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
# XMP sidecars are kilobytes; a larger file is not one, and is never read whole.
MAX_SIDECAR_BYTES = 1 << 20


class SidecarError(LandmarkTagError):
    """A sidecar that could not be read, merged or written; the photo's row is unaffected."""


@dataclass(frozen=True)
class SidecarTag:
    keyword: str | None  # the landmark's name; None: a location found by time, no landmark
    latitude: float | None = None  # None: a landmark without a known place gets only the keyword
    longitude: float | None = None
    country_code: str | None = None  # ISO 3166-1 alpha-2, as the gazetteer has it
    # How the location was found (exif:GPSProcessingMethod, which exiftool and photo managers show),
    # so that an estimate is never taken for a fix.
    method: str = "landmark-tag: landmark"
    # The location's radius as a number (exif:GPSHPositioningError, metres), beside the method's text.
    radius_m: float | None = None
    # The location landmark-tag wrote before no longer holds (its sources now disagree, or the photo
    # has its own GPS): take it out, unless it was changed by hand since.
    remove_location: bool = False
    # The region and city the location lies in (photoshop:State, photoshop:City), where known.
    region: str | None = None
    city: str | None = None
    # The scan that found the location had no landmark model (landmarktag:Landmarks="off").
    landmarks_off: bool = False
    # The place's name for Iptc4xmpCore:Location (--places), before the landmark's.
    location_name: str | None = None


# The place a location of landmark-tag's lies in, beside its country: where photo managers read them.
PLACE_FIELDS = (qname("photoshop", "State"), qname("photoshop", "City"))

REMOVE_LOCATION = SidecarTag(None, remove_location=True)
METHOD_PREFIX = "landmark-tag:"


def merge_sidecar(existing: bytes | None, tag: SidecarTag) -> bytes:
    """The sidecar's new content: `existing` (or an empty packet) with `tag` merged in."""
    new = not (existing and existing.strip())
    try:
        root = etree.fromstring(_EMPTY_PACKET if new else existing, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise SidecarError(f"existing sidecar is not well-formed XML ({exc}); left unchanged") from None
    if root.getroottree().docinfo.internalDTD is not None:
        # Its entities are never expanded, and writing the file back without its DOCTYPE would
        # leave references to entities nothing declares: an invalid file.
        raise SidecarError("existing sidecar declares a DTD (<!DOCTYPE ...>); left unchanged")
    rdf = root if root.tag == qname("rdf", "RDF") else root.find(qname("rdf", "RDF"))
    if rdf is None:
        raise SidecarError("existing sidecar has no rdf:RDF element; left unchanged")

    # What landmark-tag wrote last time, so a new answer replaces it and nothing else.
    if tag.keyword is not None:
        _merge_keyword(rdf, tag.keyword)
    # IPTC Core's name of the place shown (a sublocation): the user's own name for it, else the
    # landmark; one that no longer holds is taken out, one set by hand stays.
    location = {qname("Iptc4xmpCore", "Location"): tag.location_name or tag.keyword}
    merge_own(rdf, location, qname("landmarktag", "LocationName"))
    if tag.remove_location:
        _remove_own_location(rdf)
    elif tag.latitude is not None and tag.longitude is not None:
        coordinates = (xmp_coordinate(tag.latitude, "N", "S"), xmp_coordinate(tag.longitude, "E", "W"))
        props = (qname("exif", "GPSLatitude"), qname("exif", "GPSLongitude"))
        if merge_own(rdf, dict(zip(props, coordinates, strict=True)), qname("landmarktag", "Location")):
            set_simple(rdf, qname("exif", "GPSProcessingMethod"), tag.method)
            error = qname("exif", "GPSHPositioningError")
            if tag.radius_m is not None:  # a rational, as EXIF stores it
                set_simple(rdf, error, f"{round(tag.radius_m)}/1")
            else:
                remove_simple(rdf, error)
        merge_own(
            rdf, dict(zip(PLACE_FIELDS, (tag.region, tag.city), strict=True)), qname("landmarktag", "Place")
        )
        if tag.landmarks_off:  # found without a landmark model: a later scan with one may say more
            set_simple(rdf, qname("landmarktag", "Landmarks"), "off")
        else:
            remove_simple(rdf, qname("landmarktag", "Landmarks"))
    if tag.country_code:
        code = tag.country_code.upper()
        country = pycountry.countries.get(alpha_2=code)
        # IPTC Core's code and Photoshop's name: where photo managers look for the country.
        props = (qname("Iptc4xmpCore", "CountryCode"), qname("photoshop", "Country"))
        values = (code, country.name if country is not None else code)
        merge_own(rdf, dict(zip(props, values, strict=True)), qname("landmarktag", "Country"))
    etree.cleanup_namespaces(root, top_nsmap=None, keep_ns_prefixes=None)
    if (
        existing is not None
        and not new
        and _canonical(root) == _canonical(etree.fromstring(existing, _PARSER))
    ):
        return existing  # nothing of ours changed: the file stays byte for byte (attributes unsorted)
    if new:  # readable for people; an existing file keeps its own layout
        etree.indent(root, space=" ")
    # The whole document, so the file's own xpacket wrapper (or lack of one) stays as it was.
    return etree.tostring(root.getroottree(), encoding="utf-8", xml_declaration=False) + b"\n"


def _canonical(root: etree._Element) -> bytes:
    """The document in canonical XML: attribute order and namespace placement do not count."""
    return etree.tostring(root, method="c14n")


def holds_nothing(content: bytes) -> bool:
    """Whether a sidecar says nothing at all: descriptions without a property (what is left when
    everything landmark-tag wrote is taken out of a sidecar it started)."""
    try:
        root = etree.fromstring(content, _PARSER)
    except etree.XMLSyntaxError:
        return False
    rdf = root if root.tag == qname("rdf", "RDF") else root.find(qname("rdf", "RDF"))
    if rdf is None or len(rdf) != len(descriptions(rdf)):
        return False
    about = qname("rdf", "about")
    return all(len(d) == 0 and set(d.attrib) <= {about} for d in descriptions(rdf))


def _merge_keyword(rdf: etree._Element, keyword: str) -> None:
    """`keyword` in the keyword bag, replacing the one landmark-tag wrote before, if another."""
    previous_keyword = read_simple(rdf, qname("landmarktag", "Landmark"))
    keywords = keyword_list(rdf)
    items = keywords.findall(qname("rdf", "li"))
    if previous_keyword and previous_keyword != keyword:
        for item in items:
            if (item.text or "") == previous_keyword:
                keywords.remove(item)
    already_there = any((item.text or "") == keyword for item in items)
    if not already_there:
        etree.SubElement(keywords, qname("rdf", "li")).text = keyword
    if previous_keyword == keyword or not already_there:
        set_simple(rdf, qname("landmarktag", "Landmark"), keyword)
    elif previous_keyword:  # our old keyword is gone; the new one was the user's already
        remove_simple(rdf, qname("landmarktag", "Landmark"))


def _remove_own_location(rdf: etree._Element) -> None:
    """Remove the coordinates landmark-tag wrote (how it found them, their radius) and the country
    that came with them, where they are still what it wrote."""
    location = (qname("exif", "GPSLatitude"), qname("exif", "GPSLongitude"))
    if remove_own(rdf, location, qname("landmarktag", "Location")):
        method = qname("exif", "GPSProcessingMethod")
        if (read_simple(rdf, method) or "").startswith(METHOD_PREFIX):
            remove_simple(rdf, method)
            remove_simple(rdf, qname("exif", "GPSHPositioningError"))
    country = (qname("Iptc4xmpCore", "CountryCode"), qname("photoshop", "Country"))
    remove_own(rdf, country, qname("landmarktag", "Country"))
    remove_own(rdf, PLACE_FIELDS, qname("landmarktag", "Place"))
    remove_simple(rdf, qname("landmarktag", "Landmarks"))
