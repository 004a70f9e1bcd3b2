import re

import lxml.html
import pyarrow as pa
import pytest

from landmark_tag.report.location_map import LocatedPhotos, map_section


def batch(
    points: list[tuple[float, float]], source: str = "time", radius: float | None = 350.0
) -> pa.RecordBatch:
    return pa.RecordBatch.from_pylist(
        [
            {
                "path": f"/photos/{i}.jpg",
                "location_latitude": lat,
                "location_longitude": lon,
                "location_source": source,
                "location_radius_m": radius,
            }
            for i, (lat, lon) in enumerate(points)
        ]
    )


def dots(html: str) -> list[tuple[float, float]]:
    """The photos' dots (the circles with a title), as (x, y) in the SVG's units."""
    svg = lxml.html.fromstring(html).xpath("//svg")[0]
    return [(float(c.get("cx")), float(c.get("cy"))) for c in svg.xpath(".//circle[title]")]


def view(html: str) -> tuple[float, float, float, float]:
    left, top, width, height = map(float, re.search(r'viewBox="([^"]+)"', html).group(1).split())
    return left, top, width, height


def test_no_located_photo_no_map():
    located = LocatedPhotos()
    located.add(batch([(float("nan"), 0.0)])[:0])
    assert map_section(located) == ""


def test_the_view_holds_every_photo_from_a_walk_to_the_world():
    for points in ([(50.881, 4.319), (50.884, 4.300)], [(48.85, 2.35), (-22.95, -43.21), (40.43, 116.57)]):
        located = LocatedPhotos()
        located.add(batch(points))
        html = map_section(located)
        left, top, width, height = view(html)
        assert width == pytest.approx(2 * height, rel=1e-5)
        drawn = dots(html)
        assert len(drawn) == len(points)
        assert all(left < x < left + width and top < y < top + height for x, y in drawn)
    assert "Made with Natural Earth" in html  # the world: outlines
    assert "https://" not in html and "http://" not in html


def test_large_outputs_draw_a_seeded_uniform_sample_and_say_so():
    def sampled() -> LocatedPhotos:
        located = LocatedPhotos(limit=50)
        for start in range(0, 1000, 100):  # batch by batch, as the report reads the output
            located.add(batch([(10.0 + i / 100, 20.0) for i in range(start, start + 100)]))
        return located

    located = sampled()
    assert located.total == 1000 and len(located.sample) == 50
    assert [p.lat for p in located.sample] == [p.lat for p in sampled().sample]
    late = sum(p.lat >= 15.0 for p in located.sample)
    assert 10 <= late <= 40  # about half come from the second half of the rows
    html = map_section(located)
    assert "A uniform sample of 50 of the 1,000 located photos is drawn." in html
    assert photos_drawn(html) == 50


def photos_drawn(html: str) -> int:
    """Dots, each with the count beside it where several photos share it."""
    svg = lxml.html.fromstring(html).xpath("//svg")[0]
    counts = [int(t.text.replace(",", "")) for t in svg.xpath('.//text[@class="count"]')]
    return len(dots(html)) + sum(count - 1 for count in counts)


def test_photos_on_one_spot_are_one_dot_with_their_count():
    # 160 photos tagged with 7 landmarks share 7 places: 7 dots that say how many are on each.
    places = [(20.68, -88.57), (-22.95, -43.21), (-13.16, -72.55), (30.33, 35.44), (27.18, 78.04),
              (40.36, 116.02), (41.89, 12.49)]  # fmt: skip
    located = LocatedPhotos()
    located.add(batch([places[i % 7] for i in range(160)], source="landmark", radius=2000.0))
    html = map_section(located)
    assert len(dots(html)) == 7 and photos_drawn(html) == 160
    assert "23 photos, as /photos/" not in html  # names, not paths
    assert "photos, as 0.jpg: landmark, within 2,000 m" in html


def test_at_a_trips_scale_no_world_outline_is_drawn():
    walk = LocatedPhotos()
    walk.add(batch([(50.881, 4.319), (50.95, 4.40)]))
    html = map_section(walk)
    assert "<path" not in html and "No outlines at this scale" in html
    world = LocatedPhotos()
    world.add(batch([(48.85, 2.35), (-22.95, -43.21)]))
    assert "<path" in map_section(world) and "Made with Natural Earth" in map_section(world)


def test_each_source_has_its_colour_count_and_radius():
    located = LocatedPhotos()
    located.add(batch([(50.0, 4.0)], source="gps", radius=20.0))
    located.add(batch([(50.01, 4.0), (50.02, 4.0)], source="track", radius=400.0))
    html = map_section(located)
    legend = lxml.html.fromstring(html).xpath('//p[@class="legend"]')[0].text_content()
    assert legend.split() == ["gps", "1", "track", "2"]
    assert "0.jpg: track, within 400 m" in html
    radius_circles = [c for c in lxml.html.fromstring(html).xpath("//circle[not(title)]")]
    assert sorted(round(float(c.get("r")) * 111_320) for c in radius_circles)[-2:] == [400, 400]


def test_photos_either_side_of_the_antimeridian_are_one_small_view():
    located = LocatedPhotos()
    located.add(batch([(-17.0, 179.995), (-17.0, -179.995), (-17.0, 180.0)]))
    html = map_section(located)
    left, _, width, _ = view(html)
    assert width < 1.0  # metres apart, not the whole world
    assert all(left < x < left + width for x, _ in dots(html))
