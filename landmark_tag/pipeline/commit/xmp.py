"""XMP at the level of its RDF: namespaces, simple properties (written as an attribute or an element,
both of which XMP allows), and the keyword bag. The sidecar stage merges with these."""

from __future__ import annotations

from lxml import etree

NS_X = "adobe:ns:meta/"
NS_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
NS_DC = "http://purl.org/dc/elements/1.1/"
NS_EXIF = "http://ns.adobe.com/exif/1.0/"
NS_OWN = "urn:landmark-tag:xmp:1.0#"
# Where digiKam, darktable and Lightroom read a photo's country: IPTC Core's code, Photoshop's name.
NS_PHOTOSHOP = "http://ns.adobe.com/photoshop/1.0/"
NS_IPTC_CORE = "http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/"
PREFIXES = {
    "x": NS_X,
    "rdf": NS_RDF,
    "dc": NS_DC,
    "exif": NS_EXIF,
    "photoshop": NS_PHOTOSHOP,
    "Iptc4xmpCore": NS_IPTC_CORE,
    "landmarktag": NS_OWN,
}


def xmp_coordinate(value: float, positive: str, negative: str) -> str:
    """Decimal degrees as an XMP GPSCoordinate, "DDD,MM.mmmmmmK" (e.g. 48,51.504000N)."""
    hemisphere = positive if value >= 0 else negative
    degrees, minutes = divmod(abs(value) * 60, 60)
    minutes = round(minutes, 6)
    if minutes >= 60:
        degrees, minutes = degrees + 1, 0.0
    return f"{int(degrees)},{minutes:.6f}{hemisphere}"


def qname(prefix: str, name: str) -> str:
    return f"{{{PREFIXES[prefix]}}}{name}"


def descriptions(rdf: etree._Element) -> list[etree._Element]:
    return rdf.findall(qname("rdf", "Description"))


def _own_description(rdf: etree._Element) -> etree._Element:
    """A Description for properties the sidecar does not have yet, declaring the namespaces."""
    for description in descriptions(rdf):
        if NS_OWN in description.nsmap.values():
            return description
    about = next((d.get(qname("rdf", "about")) for d in descriptions(rdf)), "")
    return etree.SubElement(
        rdf,
        qname("rdf", "Description"),
        {qname("rdf", "about"): about or ""},
        nsmap={p: PREFIXES[p] for p in ("dc", "exif", "photoshop", "Iptc4xmpCore", "landmarktag")},
    )


def _get_simple(rdf: etree._Element, prop: str) -> tuple[etree._Element, str | None] | None:
    """(element holding it, value) for a simple property, written as attribute or element."""
    for description in descriptions(rdf):
        if prop in description.attrib:
            return description, None
        child = description.find(prop)
        if child is not None:
            return child, child.text or ""
    return None


def read_simple(rdf: etree._Element, prop: str) -> str | None:
    found = _get_simple(rdf, prop)
    if found is None:
        return None
    holder, text = found
    return holder.get(prop) if text is None else text


def set_simple(rdf: etree._Element, prop: str, value: str) -> None:
    found = _get_simple(rdf, prop)
    if found is None:
        etree.SubElement(_own_description(rdf), prop).text = value
    elif found[1] is None:
        found[0].set(prop, value)
    else:
        found[0].text = value


def remove_simple(rdf: etree._Element, prop: str) -> None:
    found = _get_simple(rdf, prop)
    if found is None:
        return
    holder, text = found
    if text is None:
        del holder.attrib[prop]
    else:
        holder.getparent().remove(holder)


def merge_own(rdf: etree._Element, fields: dict[str, str | None], record: str) -> bool:
    """Set each of `fields` to its value (taken out where it has none) where the sidecar holds none
    of them, or what landmark-tag wrote there itself (noted under `record`): where a person set any
    of them, all are left as they are, so a location or place set by hand is never overwritten.
    Returns whether they are landmark-tag's (set now)."""
    current = [read_simple(rdf, prop) for prop in fields]
    if any(value is not None for value in current) and read_simple(rdf, record) != _joined(current):
        return False
    for prop, value in fields.items():
        if value is None:
            remove_simple(rdf, prop)
        else:
            set_simple(rdf, prop, value)
    if any(value is not None for value in fields.values()):
        set_simple(rdf, record, _joined(list(fields.values())))
    else:
        remove_simple(rdf, record)
    return True


def remove_own(rdf: etree._Element, props: tuple[str, ...], record: str) -> bool:
    """Remove `props` if they still hold what landmark-tag wrote (noted under `record`): values
    changed by hand stay. Returns whether they were removed."""
    ours = read_simple(rdf, record)
    if ours is None or ours != _joined([read_simple(rdf, prop) for prop in props]):
        return False
    for prop in (*props, record):
        remove_simple(rdf, prop)
    return True


def _joined(values: list[str | None]) -> str:
    """What `record` holds: the values landmark-tag wrote, in order (empty where one had none)."""
    return " ".join(value or "" for value in values)


def keyword_list(rdf: etree._Element) -> etree._Element:
    """The rdf:Bag of dc:subject, created if the sidecar has no keywords yet."""
    for description in descriptions(rdf):
        subject = description.find(qname("dc", "subject"))
        if subject is not None:
            container = next(iter(subject), None)
            if container is None:
                container = etree.SubElement(subject, qname("rdf", "Bag"))
            return container
        if qname("dc", "subject") in description.attrib:  # one keyword written as an attribute
            keyword = description.attrib.pop(qname("dc", "subject"))
            subject = etree.SubElement(description, qname("dc", "subject"))
            bag = etree.SubElement(subject, qname("rdf", "Bag"))
            etree.SubElement(bag, qname("rdf", "li")).text = keyword
            return bag
    subject = etree.SubElement(_own_description(rdf), qname("dc", "subject"))
    return etree.SubElement(subject, qname("rdf", "Bag"))
