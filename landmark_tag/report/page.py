"""The report's HTML, piece by piece, so that it can be written while the rows stream past.

Everything from the output (paths, landmark names, errors) goes through `esc`, so a file named
`<script>alert(1)</script>.jpg` is shown as text. The page loads nothing: styles and a few lines of
script are inline, and images are `data:` URIs or files in a folder beside the report.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from html import escape
from importlib import resources
from pathlib import Path, PurePath
from typing import Any

from landmark_tag.model.gazetteer import NO_COORDINATES

PAGE_SIZE = 120  # cards shown per section before "Show more"

STATUS_TITLES = {
    "tagged": "Tagged photos",
    "uncertain": "Uncertain: below the confidence threshold",
    "no_landmark": "No landmark: unlike every landmark the model knows",
    "skipped_gps": "Located by EXIF GPS (not sent to the model)",
    "landmarks_off": "Landmarks off: no landmark model looked at these",
    "failed": "Failed",
}


def _asset(name: str) -> str:
    return resources.files("landmark_tag.report").joinpath(name).read_text(encoding="utf-8")


def esc(value: Any) -> str:
    return escape(str(value), quote=True)


def file_name(path: str) -> str:
    return PurePath(path).name or path


def when(value: dt.datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "-"


def page_start(title: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        # Nothing may be loaded from anywhere: a stray reference would be blocked, not fetched.
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data: 'self'; "
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'\">"
        f"<title>{esc(title)}</title><style>{_asset('report.css')}</style></head>"
        f'<body data-page="{PAGE_SIZE}">\n'
    )


def page_end() -> str:
    return f"<script>{_asset('report.js')}</script>\n</body></html>\n"


def header(title: str, facts: list[tuple[str, str]], counts: Mapping[str, int]) -> str:
    badges = "".join(
        f'<span class="badge {esc(status)}">{esc(status)} {count:,}</span>'
        for status, count in counts.items()
    )
    rows = "".join(f"<dt>{esc(name)}</dt><dd>{esc(value)}</dd>" for name, value in facts)
    return (
        f'<header><h1>{esc(title)}</h1><p class="counts">{badges}</p><dl class="facts">{rows}</dl></header>\n'
    )


def controls(landmarks: list[str], statuses: list[str], places: dict[str, int] | None = None) -> str:
    """The sort, the landmark filter, the named-place filter (where --places named any photo: the
    photos of every section inside that place) and the sections shown."""
    options = "".join(f'<option value="{esc(name)}">{esc(name)}</option>' for name in landmarks)
    boxes = "".join(
        f'<label><input type="checkbox" class="status" value="{esc(s)}" checked> {esc(s)}</label>'
        for s in statuses
    )
    where = ""
    if places:
        named = "".join(
            f'<option value="{esc(name)}">{esc(name)} ({count:,})</option>'
            for name, count in sorted(places.items())
        )
        where = f'<label>Place <select id="place"><option value="">all</option>{named}</select></label>'
    return (
        '<nav><label>Sort <select id="sort"><option value="order">as in the output</option>'
        '<option value="confidence">by confidence</option><option value="landmark">by landmark</option>'
        f'</select></label><label>Landmark <select id="landmark"><option value="">all</option>{options}'
        f"</select></label>{where}Show {boxes}</nav>\n"
    )


def section_start(status: str, count: int, note: str = "", table_head: str | None = None) -> str:
    # The count is a span of its own: a landmark filter shows "44 of 296" there (report.js).
    total = f'<span class="count" data-total="{count:,}">{count:,}</span>'
    title = f"{esc(STATUS_TITLES.get(status, status))} ({total})"
    opening = (
        f'<table><thead>{table_head}</thead><tbody id="list-{esc(status)}" data-shown="{PAGE_SIZE}">'
        if table_head is not None
        else f'<div class="grid{" sortable" if status in ("tagged", "uncertain", "no_landmark") else ""}" '
        f'id="list-{esc(status)}" data-shown="{PAGE_SIZE}">'
    )
    note_html = f'<p class="note">{esc(note)}</p>' if note else ""
    return f'<section id="section-{esc(status)}"><h2>{title}</h2>{note_html}{opening}\n'


def section_end(status: str, count: int, table: bool = False) -> str:
    rest = max(0, count - PAGE_SIZE)
    hidden = "" if rest else " hidden"
    button = (
        f'<button class="more" id="list-{esc(status)}-more" data-for="list-{esc(status)}"{hidden}>'
        f"Show {min(rest, PAGE_SIZE)} more ({rest:,} not shown)</button>"
    )
    return ("</tbody></table>" if table else "</div>") + button + "</section>\n"


def _image(src: str | None, problem: str | None, path: str, later: bool) -> str:
    if src is not None:
        # Beyond the first page, the browser gets the image only when "Show more" reveals it:
        # 20,000 hidden <img src> would each be fetched or decoded up front.
        source = "data-src" if later else "src"
        return f'<img class="thumb" {source}="{esc(src)}" alt="{esc(file_name(path))}" loading="lazy">'
    return f'<div class="placeholder" title="{esc(problem or "")}">{esc(problem or "no thumbnail")}</div>'


def _coordinates(latitude: float, longitude: float) -> str:
    return f"{latitude:.4f}, {longitude:.4f}"


def photo_card(row: dict[str, Any], index: int, k: int, src: str | None, problem: str | None) -> str:
    """A tagged, uncertain, no-landmark or GPS-located photo: thumbnail (or placeholder) and what the
    scan said."""
    path = row["path"]
    top = row.get("landmark_1")
    p = row.get("probability_1")
    hidden = " hidden" if index >= PAGE_SIZE else ""
    attributes = (
        f'data-i="{index}" data-p="{p if p is not None else -1:.6f}" data-landmark="{esc(top or "")}" '
        f'data-place="{esc(row.get("named_place") or "")}"'
    )
    caption = []
    if top is not None and row.get("status") == "no_landmark":
        # What the model rejected must not read as a tag: no bold name, no headline percentage.
        caption.append(
            '<div class="head"><span class="rejected">no landmark</span></div>'
            f'<div class="guess">closest, rejected: {esc(top)} ({p:.1%})</div>'
        )
    elif top is not None:
        caption.append(
            f'<div class="head"><span class="top">{esc(top)}</span><span class="p">{p:.1%}</span></div>'
        )
    if top is not None and row.get("status") != "no_landmark":
        others = [
            f"<li>{esc(row[f'landmark_{i}'])} {row[f'probability_{i}']:.1%}</li>"
            for i in range(2, k + 1)
            if row.get(f"landmark_{i}") is not None
        ]
        if others:
            caption.append(f'<ol start="2">{"".join(others)}</ol>')
    if row.get("landmark_score") is not None:
        caption.append(f'<div class="score">landmark score {row["landmark_score"]:.3f}</div>')
    if row.get("estimated_latitude") is not None and row.get("location_source") != "landmark":
        country = f" ({esc(row['estimated_country'])})" if row.get("estimated_country") else ""
        where = _coordinates(row["estimated_latitude"], row["estimated_longitude"])
        caption.append(f'<div class="where">estimated: {where}{country}</div>')
    elif row.get("status") == "tagged":
        caption.append(f'<div class="where none">no location: {esc(NO_COORDINATES)}</div>')
    if row.get("gps_latitude") is not None:
        caption.append(
            f'<div class="where">EXIF GPS: {_coordinates(row["gps_latitude"], row["gps_longitude"])}</div>'
        )
    caption += _location(row)
    caption.append(f'<div class="path" title="{esc(path)}">{esc(file_name(path))}</div>')
    image = _image(src, problem, path, bool(hidden))
    if (link := photo_link(path)) is not None:
        image = f'<a href="{esc(link)}" title="open the photo">{image}</a>'
    if "original_src" in row:  # a copy beside its original (build sets it for copies only)
        original = _image(row["original_src"], "original not available", row["copy_of"], bool(hidden))
        image = f'<div class="pair">{image}<div class="original">{original}<span>original</span></div></div>'
    return (
        f'<figure class="card" {attributes}{hidden}>{image}'
        f"<figcaption>{''.join(caption)}</figcaption></figure>\n"
    )


PLACE_COLUMNS = ("named_place", "place_city", "place_region", "place_country")


def place_text(row: dict[str, Any]) -> str:
    """The place a located photo lies in, as far as it is known: "Flint, Wales, GB", after the
    name given to it (--places): "Home · Flint, Wales, GB"."""
    names = (row.get("place_city"), row.get("place_region"), row.get("place_country"))
    place = ", ".join(name for name in names if name)
    return " · ".join(text for text in (row.get("named_place"), place) if text)


def _location(row: dict[str, Any]) -> list[str]:
    """The photo's place, and its location where its own GPS does not already say it: its source
    and radius, or why it has none."""
    source, note = row.get("location_source"), row.get("location_note")
    if source is not None and row.get("location_latitude") is not None:
        lines = []
        place = place_text(row) or (row.get("estimated_country") if source == "landmark" else None)
        if place:
            lines.append(f'<div class="place">{esc(place)}</div>')
        if source != "gps":
            where = _coordinates(row["location_latitude"], row["location_longitude"])
            radius = row.get("location_radius_m")
            within = f", within {radius:,.0f} m" if radius is not None else ""
            lines.append(f'<div class="where">location ({esc(source)}{within}): {where}</div>')
        if source == "copy" and row.get("copy_of"):
            lines.append(f'<div class="where">copy of {esc(file_name(row["copy_of"]))}</div>')
        if note:  # located, with a word on a source that disagreed
            lines.append(f'<div class="where note">{esc(note)}</div>')
        return lines
    if note:
        return [f'<div class="where none">no location: {esc(note)}</div>']
    return []


def photo_link(path: str) -> str | None:
    """A local photo's file: URL, which opens it when its card is clicked. Photos in a bucket get
    none: a page cannot open s3:// and the like, and the report links to nothing outside the
    machine."""
    return Path(path).as_uri() if os.path.isabs(path) else None


FAILED_HEAD = "<tr><th>photo</th><th>error</th></tr>"


def failed_row(row: dict[str, Any], index: int) -> str:
    hidden = " hidden" if index >= PAGE_SIZE else ""
    return (
        f'<tr data-i="{index}"{hidden}><td class="path">{esc(row["path"])}</td>'
        f'<td class="error">{esc(row.get("error") or "")}</td></tr>\n'
    )


def landmark_table(stats: Mapping[str, Mapping[str, Any]]) -> str:
    """Per landmark: tagged and uncertain counts, and the mean top-1 probability of the tagged ones."""
    rows = []
    for name, s in stats.items():
        mean = f"{s['probability_sum'] / s['tagged']:.1%}" if s["tagged"] else "-"
        cells = (esc(name), f"{s['tagged']:,}", f"{s['uncertain']:,}", mean, esc(s.get("country") or ""))
        rows.append(
            "<tr><td>{}</td><td class='num'>{}</td><td class='num'>{}</td>"
            "<td class='num'>{}</td><td>{}</td></tr>".format(*cells)
        )
    head = (
        "<tr><th>landmark</th><th class='num'>tagged</th><th class='num'>uncertain</th>"
        "<th class='num'>mean probability (tagged)</th><th>country</th></tr>"
    )
    return (
        '<section id="landmarks"><h2>Photos per landmark (top-1)</h2>'
        f"<table><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table></section>\n"
    )
