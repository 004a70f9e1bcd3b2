"""Placing photos on a GPS track (`--gpx`): each camera's clock aligned with the track on its
photos with GPS (or, with none, by the time zone that puts its photos inside the track; or by
`--gpx-offset`), then each photo's place on the track at its time."""

from __future__ import annotations

import numpy as np

from landmark_tag.locating.clocks import SPAN_CLOCK_S, align, align_by_span, groups
from landmark_tag.locating.fixes import Candidates, Fixes, LocateSettings, offer_neighbours
from landmark_tag.locating.photos import Photos, offset_text, to_place

_GIVE_OFFSET = "give --gpx-offset to place them on the track"
TRACK_SPREAD_PER_MEDIAN = 2.0


def locate_on_track(photos: Photos, track: Fixes, settings: LocateSettings) -> tuple[Candidates, Candidates]:
    """Each photo's time on the track's clock, then its place on the track: for the photos without
    GPS, and (to check them against it) for those with."""
    found, checked = Candidates.empty(photos.n), Candidates.empty(photos.n)
    by_span = np.zeros(0, dtype=np.int64)  # rows whose clock is known to its time zone only
    # How far the camera's own GPS photos lay from the track (median), where they were aligned on it.
    disagreement = np.zeros(photos.n)
    if settings.gpx_offset_s is not None:
        on_track = photos.local + settings.gpx_offset_s
        photos.clocks.append(
            f"tracks: {offset_text(settings.gpx_offset_s)} from every camera's clock (--gpx-offset)"
        )
    else:
        on_track = np.full(photos.n, np.nan)
        in_utc = ~np.isnan(photos.utc)
        clock = np.where(in_utc, photos.utc, photos.local)
        keys = photos.cameras * 2 + in_utc  # a camera's photos in UTC, and those on its own clock
        unaligned_utc = []
        utc_offsets = []
        everyone = np.flatnonzero(~np.isnan(clock))
        for key, rows in groups(keys[everyone], everyone):
            camera, utc_frame = key // 2, bool(key % 2)
            fixes = rows[photos.own[rows]]
            expected = 0.0 if utc_frame else None
            alignment = (
                align(track, clock[fixes], photos.lat[fixes], photos.lon[fixes], expected)
                if len(fixes)
                else None
            )
            frame = "in UTC" if utc_frame else "on its clock"
            who = f"{photos.name(camera)} {frame}"
            if alignment is not None:
                offset = alignment.offset
                on_track[rows] = clock[rows] + offset
                disagreement[rows] = alignment.median_m
                how = "its GPS photos agree" if offset == expected else "aligned on its GPS photos"
                photos.clocks.append(
                    f"tracks: {offset_text(offset)} from {who}, {how}"
                    f" (median {alignment.median_m:.0f} m from the track)"
                )
                if utc_frame:
                    utc_offsets.append(offset)
            elif utc_frame:
                unaligned_utc.append(rows)
            elif len(fixes):
                others = len(rows) - len(fixes)
                if others:
                    photos.clocks.append(
                        f"tracks: no offset from {who}: its {len(fixes)} GPS photos do not fall on the"
                        f" track at any offset within a day; {_GIVE_OFFSET} ({others} photos)"
                    )
            else:
                span_rows = _align_by_span(photos, track, rows, clock[rows], on_track)
                by_span = np.r_[by_span, span_rows]
        # Photos in UTC that no alignment covers: the tracks' own offset from UTC where photos showed
        # it, else none (GPX times are UTC).
        track_utc = float(np.median(utc_offsets)) if utc_offsets else 0.0
        for rows in unaligned_utc:
            on_track[rows] = clock[rows] + track_utc
    rows_to_place = to_place(photos, settings)
    offer_neighbours(track, rows_to_place, on_track[rows_to_place], settings, found, track=True)
    # Where a camera's receiver and the track disagree by more than a track point's own radius
    # allows, the radius holds that too: a 2-D normal error's 90th percentile is 1.8x its median.
    here = found.found
    found.radius[here] = np.maximum(found.radius[here], TRACK_SPREAD_PER_MEDIAN * disagreement[here])
    own = np.flatnonzero(photos.own)
    offer_neighbours(track, own, on_track[own], settings, checked, track=True)
    if len(by_span):
        rows = by_span[found.found[by_span]]
        found.radius[rows] += track.extent_m(on_track[rows], found.lat[rows], found.lon[rows], SPAN_CLOCK_S)
        found.radius[rows[found.radius[rows] > settings.max_radius_m]] = np.nan
    return found, checked


def _align_by_span(
    photos: Photos, track: Fixes, rows: np.ndarray, clock: np.ndarray, on_track: np.ndarray
) -> np.ndarray:
    """A camera's photos, with no GPS among them, placed on the track by the time zone that puts
    them inside it (`clocks.align_by_span`); the rows so placed."""
    alignment = align_by_span(track, clock)
    placed = ~np.isnan(alignment.offsets)
    on_track[rows[placed]] = clock[placed] + alignment.offsets[placed]
    camera = photos.name(int(photos.cameras[rows[0]]))
    for offset in alignment.found:
        photos.clocks.append(
            f"tracks: {offset_text(offset)} from {camera} on its clock, the time zone that puts its photos"
            " inside the track (no photo with GPS to align on)"
        )
    for trip in alignment.abstained:
        photos.clocks.append(f"tracks: no offset from {camera} on its clock for {trip}; {_GIVE_OFFSET}")
    return rows[placed]
