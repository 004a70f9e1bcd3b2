"""Where each landmark is: the gazetteer that turns a class into coordinates.

A gazetteer is a CSV file with the columns

    class_name, name, latitude, longitude, country, wikidata

`class_name` is the training folder's name; `name` is how the landmark is shown; latitude and
longitude are WGS84 decimal degrees; `country` is an ISO 3166-1 alpha-2 code (empty for a landmark
on a border, such as a lake between countries); `wikidata` is a QID or empty. The package ships one
for the 50 classes of the landmark dataset. `train` stores the places of its classes in the
checkpoint, so a scan needs nothing but the model file.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import os
import re
from dataclasses import asdict, dataclass
from importlib import resources
from typing import Any

from landmark_tag.errors import LandmarkTagError

logger = logging.getLogger(__name__)

COLUMNS = ("class_name", "name", "latitude", "longitude", "country", "wikidata")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_QID = re.compile(r"^Q[1-9]\d*$")
_PREFIX = re.compile(r"^\d+[._\s-]+")


class GazetteerError(LandmarkTagError):
    """A gazetteer file that is missing, malformed, or holds an impossible place."""


# Why a tagged photo has no location: its class has no Place. `predict` and the report say it.
NO_COORDINATES = "the model has no coordinates for this landmark (train it with --gazetteer FILE to add them)"


@dataclass(frozen=True)
class Place:
    class_name: str
    name: str
    latitude: float
    longitude: float
    country: str | None = None
    wikidata: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def readable(class_name: str) -> str:
    """`16.Eiffel_Tower` -> `Eiffel Tower`: a dataset folder name without its number and underscores
    (empty if that is all it was)."""
    return _PREFIX.sub("", class_name).replace("_", " ").strip()


def display_name(class_name: str) -> str:
    """What the output calls a class without a gazetteer name: its folder name made readable."""
    return readable(class_name) or class_name


def match_key(class_name: str) -> str:
    """`16.Eiffel_Tower`, `Eiffel_Tower` and `eiffel tower` all name the same landmark."""
    return " ".join(readable(class_name).lower().split())


def _place(row: dict[str, str], where: str) -> Place:
    def text(column: str) -> str:
        return (row.get(column) or "").strip()

    class_name = text("class_name")
    if not class_name:
        raise GazetteerError(f"{where}: empty class_name")
    try:
        latitude, longitude = float(text("latitude")), float(text("longitude"))
    except ValueError:
        raise GazetteerError(f"{where}: latitude and longitude must be decimal degrees") from None
    if not (math.isfinite(latitude) and -90 <= latitude <= 90):
        raise GazetteerError(f"{where}: latitude {latitude} is outside -90..90")
    if not (math.isfinite(longitude) and -180 <= longitude <= 180):
        raise GazetteerError(f"{where}: longitude {longitude} is outside -180..180")
    country = text("country").upper() or None
    if country is not None and not _COUNTRY.match(country):
        raise GazetteerError(f"{where}: country {country!r} is not an ISO 3166 alpha-2 code")
    wikidata = text("wikidata") or None
    if wikidata is not None and not _QID.match(wikidata):
        raise GazetteerError(f"{where}: wikidata {wikidata!r} is not a QID like Q243")
    name = text("name") or readable(class_name)
    return Place(class_name, name, latitude, longitude, country, wikidata)


def parse_gazetteer(text: str, source: str = "gazetteer") -> dict[str, Place]:
    """class_name -> Place, from the CSV text of a gazetteer."""
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in ("class_name", "latitude", "longitude") if c not in (reader.fieldnames or [])]
    if missing:
        raise GazetteerError(
            f"{source}: missing column(s) {', '.join(missing)}; expected {', '.join(COLUMNS)}"
        )
    places: dict[str, Place] = {}
    for line, row in enumerate(reader, start=2):
        place = _place(row, f"{source} line {line}")
        if place.class_name in places:
            raise GazetteerError(f"{source} line {line}: {place.class_name!r} is listed twice")
        places[place.class_name] = place
    return places


def load_gazetteer(path: str | os.PathLike) -> dict[str, Place]:
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            text = handle.read()
    except FileNotFoundError:
        raise GazetteerError(f"no gazetteer file at {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise GazetteerError(f"cannot read gazetteer {path}: {exc}") from None
    return parse_gazetteer(text, os.fspath(path))


def builtin_gazetteer() -> dict[str, Place]:
    """The places of the 50-class landmark dataset, shipped with the package."""
    text = resources.files("landmark_tag").joinpath("data", "landmarks.csv").read_text(encoding="utf-8")
    return parse_gazetteer(text, "landmarks.csv")


def places_for(class_names: list[str], gazetteer: dict[str, Place]) -> tuple[dict[str, Place], list[str]]:
    """Match classes to places, by exact name first, then by `match_key`.

    Returns (class_name -> Place, each renamed to its class; the gazetteer entries that matched no
    class, so that a typo in a user's file is reported rather than silently ignored).
    """
    by_key = {match_key(name): name for name in class_names}
    found: dict[str, Place] = {}
    unused: list[str] = []
    for entry_name, place in gazetteer.items():
        class_name = entry_name if entry_name in class_names else by_key.get(match_key(entry_name))
        if class_name is None:
            unused.append(entry_name)
        else:
            found[class_name] = Place(**{**place.to_dict(), "class_name": class_name})
    return found, unused


def class_places(class_names: list[str], gazetteer_file: str | None) -> dict[str, Place]:
    """The built-in places of these classes, overridden and extended by a user's gazetteer file."""
    places, _ = places_for(class_names, builtin_gazetteer())
    if gazetteer_file:
        own, unused = places_for(class_names, load_gazetteer(gazetteer_file))
        if unused:
            logger.warning(
                "%d gazetteer entries match no class and are ignored: %s", len(unused), ", ".join(unused[:10])
            )
        places.update(own)
    logger.info("coordinates for %d of %d classes", len(places), len(class_names))
    return places
