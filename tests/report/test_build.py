import os
import re
from pathlib import Path

import lxml.html
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest

from landmark_tag.files.results import ResultRow, Status, read_results, rows_to_table
from landmark_tag.pipeline.commit.write import ResultWriter
from landmark_tag.pipeline.target import OutputTarget
from landmark_tag.report.build import ReportConfig, ReportError, build_report
from landmark_tag.report.page import PAGE_SIZE
from tests.helpers import save_photo, scene
from tests.report.conftest import BAD_FAILED, IMG_NAME, SCRIPT_PATH


class CountingProgress:
    def __init__(self):
        self.total, self.done = None, 0

    def start(self, total):
        self.total = total

    def advance(self, photos):
        self.done += photos


def with_columns(table: pa.Table, **columns: list) -> pa.Table:
    """`table` with these columns' values replaced, typed as the output has them."""
    for name, values in columns.items():
        index = table.schema.get_field_index(name)
        table = table.set_column(index, name, pa.array(values, table.schema.field(name).type))
    return table


def section_items(document, status):
    return document.xpath(f'//*[@id="list-{status}"]/*')


def test_report_sections_match_the_output(scanned, tmp_path):
    frame = read_results(scanned["out"])
    counts = frame["status"].value_counts().to_dict()
    assert counts["tagged"] and counts["uncertain"] and counts["no_landmark"]
    assert counts["skipped_gps"] and counts["failed"] == 2
    progress = CountingProgress()
    report = tmp_path / "report.html"
    summary = build_report(ReportConfig(str(scanned["out"]), str(report), workers=0), progress)
    document = lxml.html.parse(str(report)).getroot()

    for status in ("tagged", "uncertain", "no_landmark", "skipped_gps", "failed"):
        assert len(section_items(document, status)) == counts[status], status
        badge = document.xpath(f'//span[contains(@class, "badge") and contains(@class, "{status}")]')[0]
        assert badge.text_content() == f"{status} {counts[status]}"
    photos = counts["tagged"] + counts["uncertain"] + counts["no_landmark"] + counts["skipped_gps"]
    assert len(document.xpath('//img[@class="thumb"]')) == photos == summary.thumbnails
    assert progress.total == progress.done == photos
    assert summary.rows == len(frame) and summary.unavailable == 0

    # Each tagged card shows its row's top-1 and probability, and where it is.
    for card in section_items(document, "tagged"):
        name = card.xpath('.//div[@class="path"]/@title')[0]
        row = frame.set_index("path").loc[name]
        assert card.xpath('.//span[@class="top"]')[0].text_content() == row["landmark_1"]
        assert card.get("data-p") == f"{row['probability_1']:.6f}"
        where = card.xpath('.//div[@class="where"]')
        assert where and f"{row['estimated_latitude']:.4f}" in where[0].text_content()
    for card in section_items(document, "uncertain") + section_items(document, "no_landmark"):
        assert "estimated" not in card.text_content()
        row = frame.set_index("path").loc[card.xpath('.//div[@class="path"]/@title')[0]]
        score = card.xpath('.//div[@class="score"]')[0].text_content()
        assert score == f"landmark score {row['landmark_score']:.3f}"
    for card in section_items(document, "no_landmark"):  # what the model rejected reads as rejected
        row = frame.set_index("path").loc[card.xpath('.//div[@class="path"]/@title')[0]]
        assert not card.xpath('.//span[@class="top"]') and not card.xpath('.//span[@class="p"]')
        assert card.xpath('.//span[@class="rejected"]')[0].text_content() == "no landmark"
        guess = card.xpath('.//div[@class="guess"]')[0].text_content()
        assert guess == f"closest, rejected: {row['landmark_1']} ({row['probability_1']:.1%})"
    for card in section_items(document, "tagged") + section_items(document, "no_landmark"):
        photo = card.xpath('.//div[@class="path"]/@title')[0]
        assert card.xpath(".//a/@href") == [Path(photo).as_uri()]  # a card opens its photo
    located = section_items(document, "skipped_gps")[0]
    assert "EXIF GPS: 48.8584, 2.2945" in located.text_content()
    failed = {
        row.xpath("td")[0].text_content(): row.xpath("td")[1].text_content()
        for row in section_items(document, "failed")
    }
    assert failed == dict(
        zip(
            frame.query("status == 'failed'")["path"], frame.query("status == 'failed'")["error"], strict=True
        )
    )

    # Per-landmark table: tagged and uncertain counts per top-1 landmark.
    table = {
        tr.xpath("td")[0].text_content(): (
            int(tr.xpath("td")[1].text_content()),
            int(tr.xpath("td")[2].text_content()),
        )
        for tr in document.xpath('//section[@id="landmarks"]//tbody/tr')
    }
    judged = frame[frame["status"].isin(["tagged", "uncertain"])]
    expected = judged.groupby("landmark_1")["status"].value_counts().unstack(fill_value=0)
    assert table == {
        name: (int(r.get("tagged", 0)), int(r.get("uncertain", 0))) for name, r in expected.iterrows()
    }


def test_malicious_names_are_text_and_nothing_is_loaded_from_outside(scanned, tmp_path):
    report = tmp_path / "report.html"
    build_report(ReportConfig(str(scanned["out"]), str(report), workers=0))
    html = report.read_text()
    assert "<script>alert(1)" not in html and "<img src=x" not in html and "<b onmouseover" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;.jpg" in html
    document = lxml.html.parse(str(report)).getroot()
    text = document.text_content()
    assert IMG_NAME in text and BAD_FAILED in text and SCRIPT_PATH[1] in text
    titles = document.xpath('//div[@class="path"]/@title')
    assert any(title.endswith("/".join(SCRIPT_PATH)) for title in titles)
    # Only our own inline script; every image is a data URI, and every link opens a photo of the scan.
    scripts = document.xpath("//script")
    assert len(scripts) == 1 and scripts[0].get("src") is None
    references = document.xpath("//@src | //@data-src | //@srcset | //@action | //@poster")
    assert references and all(value.startswith("data:image/jpeg;base64,") for value in references)
    photos = {Path(p).as_uri() for p in read_results(scanned["out"])["path"]}
    links = document.xpath("//@href")
    assert links and set(links) <= photos
    assert not document.xpath("//link | //iframe | //object | //embed | //base")
    assert not re.search(r"url\(|@import|https?://|//[a-z]", html.split("<body", 1)[0].split("content=")[0])


def test_a_tagged_photo_without_coordinates_says_why_it_has_no_location(tmp_path):
    photo = save_photo(tmp_path / "a.jpg", scene())
    row = ResultRow(str(photo), Status.TAGGED, photo.stat().st_size, photo.stat().st_mtime, 0.0, "m@1",
                    landmarks=["Petra"], probabilities=[0.9])  # fmt: skip
    out = tmp_path / "tags.parquet"
    pq.write_table(rows_to_table([row], 1), out)
    build_report(ReportConfig(str(out), str(tmp_path / "r.html"), workers=0))
    card = section_items(lxml.html.parse(str(tmp_path / "r.html")).getroot(), "tagged")[0]
    assert "no location: the model has no coordinates for this landmark" in card.text_content()
    assert "--gazetteer" in card.text_content()


def test_photos_no_model_looked_at_have_a_section_that_says_so(tmp_path):
    photo = save_photo(tmp_path / "a.jpg", scene())
    row = ResultRow(str(photo), Status.LANDMARKS_OFF, photo.stat().st_size, photo.stat().st_mtime, 0.0, "")
    out = tmp_path / "tags.parquet"
    pq.write_table(rows_to_table([row], 3), out)
    build_report(ReportConfig(str(out), str(tmp_path / "r.html"), workers=0))
    document = lxml.html.parse(str(tmp_path / "r.html")).getroot()
    assert len(section_items(document, "landmarks_off")) == 1
    assert "Landmarks off: no landmark model looked at these" in document.text_content()


def test_each_card_says_where_its_location_came_from_and_how_sure(tmp_path):
    photo = save_photo(tmp_path / "a.jpg", scene())
    guess = {"landmarks": ["Petra"], "probabilities": [0.2]}
    rows = [
        ResultRow(str(photo), Status.NO_LANDMARK, 1, 0.0, 0.0, "m@1", **guess),
        ResultRow(str(tmp_path / "b.jpg"), Status.NO_LANDMARK, 1, 0.0, 0.0, "m@1", **guess),
    ]
    table = with_columns(
        rows_to_table(rows, 1),
        location_latitude=[50.8812, None],
        location_longitude=[4.3285, None],
        location_source=["time", None],
        location_radius_m=[350.0, None],
        location_note=[None, "track and time disagree"],
        place_city=["Anderlecht", None],
        place_region=["Brussels", None],
        place_country=["BE", None],
    )
    out = tmp_path / "tags.parquet"
    pq.write_table(table, out)
    build_report(ReportConfig(str(out), str(tmp_path / "r.html"), workers=0))
    cards = section_items(lxml.html.parse(str(tmp_path / "r.html")).getroot(), "no_landmark")
    texts = sorted(card.text_content() for card in cards)
    assert "Anderlecht, Brussels, BElocation (time, within 350 m): 50.8812, 4.3285" in texts[0]
    assert "no location: track and time disagree" in texts[1]
    (located,) = (
        lxml.html.parse(str(tmp_path / "r.html")).getroot().xpath('//section[@id="map"]//circle/title')
    )
    assert located.text_content() == "a.jpg in Anderlecht, Brussels, BE: time, within 350 m"


def test_unreadable_photos_get_a_placeholder(scanned, tmp_path):
    moved = scanned["photos"] / "img_0.jpg"
    data = moved.read_bytes()
    moved.unlink()
    try:
        report = tmp_path / "report.html"
        summary = build_report(ReportConfig(str(scanned["out"]), str(report), workers=2))
    finally:
        moved.write_bytes(data)
    assert summary.unavailable == 1
    document = lxml.html.parse(str(report)).getroot()
    placeholders = document.xpath('//div[@class="placeholder"]')
    assert [p.text_content() for p in placeholders] == ["photo not available: file not found"]


def rows(count, status=Status.TAGGED, folder="/nowhere"):
    common = {"size_bytes": 1, "modified_at": 1.7e9, "scanned_at": 1.8e9, "model": "m@1"}
    return [
        ResultRow(f"{folder}/{i:05d}.jpg", status, landmarks=["A", "B"], probabilities=[0.6, 0.3], **common)
        for i in range(count)
    ]


def test_large_sections_are_paged_and_thumbnails_capped(tmp_path):
    out = tmp_path / "tags.csv"
    with ResultWriter(OutputTarget.at(str(out)), k=2) as writer:
        writer.write(rows(PAGE_SIZE + 30))
    report = tmp_path / "report.html"
    summary = build_report(ReportConfig(str(out), str(report), max_thumbnails=5, workers=0))
    assert (summary.thumbnails, summary.unavailable) == (0, 5)  # the photos do not exist
    document = lxml.html.parse(str(report)).getroot()
    cards = section_items(document, "tagged")
    assert len(cards) == PAGE_SIZE + 30
    assert sum(card.get("hidden") is None for card in cards) == PAGE_SIZE
    more = document.get_element_by_id("list-tagged-more")
    assert more.get("hidden") is None and more.text_content() == "Show 30 more (30 not shown)"
    assert "Thumbnails for the first 5 of 150 photos" in document.text_content()
    assert len(document.xpath('//div[@class="placeholder" and text()="no thumbnail (limit reached)"]')) == 145


def test_images_beyond_the_first_page_load_only_when_shown(tmp_path):
    photo = save_photo(tmp_path / "photos" / "one.jpg", scene(seed=3))
    for i in range(PAGE_SIZE + 4):
        os.link(photo, tmp_path / "photos" / f"{i:05d}.jpg")
    out = tmp_path / "tags.parquet"
    with ResultWriter(OutputTarget.at(str(out)), k=2) as writer:
        writer.write(rows(PAGE_SIZE + 4, folder=str(tmp_path / "photos")))
    report = tmp_path / "report.html"
    assert build_report(ReportConfig(str(out), str(report), workers=2)).thumbnails == PAGE_SIZE + 4
    cards = section_items(lxml.html.parse(str(report)).getroot(), "tagged")
    shown = [card.xpath(".//img/@src") for card in cards]
    later = [card.xpath(".//img/@data-src") for card in cards]
    assert all(shown[:PAGE_SIZE]) and not any(later[:PAGE_SIZE])
    assert not any(shown[PAGE_SIZE:]) and all(later[PAGE_SIZE:])


def test_assets_dir_holds_the_thumbnails_and_is_reused(scanned, tmp_path):
    report, assets = tmp_path / "report.html", tmp_path / "report-files"
    first = build_report(ReportConfig(str(scanned["out"]), str(report), assets_dir=str(assets), workers=0))
    files = sorted(assets.iterdir())
    assert len(files) == first.thumbnails > 0
    sources = lxml.html.parse(str(report)).getroot().xpath('//img[@class="thumb"]/@src')
    assert sorted(sources) == sorted(f"report-files/{f.name}" for f in files)
    stamps = {f.name: f.stat().st_mtime_ns for f in files}
    build_report(ReportConfig(str(scanned["out"]), str(report), assets_dir=str(assets), workers=0))
    assert {f.name: f.stat().st_mtime_ns for f in assets.iterdir()} == stamps  # not made again


def test_thumbnails_are_upright_and_small(scanned, tmp_path):
    import base64
    import io

    from PIL import Image

    report = tmp_path / "report.html"
    build_report(ReportConfig(str(scanned["out"]), str(report), workers=0, thumbnail_size=100))
    document = lxml.html.parse(str(report)).getroot()
    card = document.xpath('//figure[.//div[@class="path" and text()="rotated.jpg"]]')[0]
    src = card.xpath(".//img/@src")[0]
    with Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))) as thumbnail:
        assert thumbnail.size == (67, 100)  # 300x200 stored, shown turned by its EXIF orientation


@pytest.mark.parametrize("suffix", ["parquet", "csv"])
def test_output_of_an_earlier_version_without_estimated_columns(tmp_path, suffix):
    old = rows_to_table(rows(3), 2).drop_columns(
        ["estimated_latitude", "estimated_longitude", "estimated_country", "landmark_score"]
    )
    out = tmp_path / f"old.{suffix}"
    if suffix == "parquet":
        pq.write_table(old, out)
    else:
        pa_csv.write_csv(old, out)
    report = tmp_path / "report.html"
    summary = build_report(ReportConfig(str(out), str(report), workers=0))
    assert summary.counts == {"tagged": 3}
    assert len(section_items(lxml.html.parse(str(report)).getroot(), "tagged")) == 3
    assert 'id="map"' not in report.read_text()  # no location columns: nothing to map


def test_missing_or_unreadable_output(tmp_path):
    with pytest.raises(ReportError, match="no scan output"):
        build_report(ReportConfig(str(tmp_path / "none.parquet"), str(tmp_path / "r.html")))
    (tmp_path / "junk.parquet").write_bytes(b"junk")
    with pytest.raises(ReportError, match="cannot read"):
        build_report(ReportConfig(str(tmp_path / "junk.parquet"), str(tmp_path / "r.html")))
    assert not (tmp_path / "r.html").exists()


def test_capture_times_at_the_ends_of_the_calendar_do_not_stop_the_report(tmp_path):
    # An output that holds 9999-12-31 23:59:59 at -14:00 (year 10000 in UTC), as earlier versions wrote.
    photo = save_photo(tmp_path / "a.jpg", scene())
    guess = {"landmarks": ["Petra"], "probabilities": [0.2]}
    row = ResultRow(str(photo), Status.NO_LANDMARK, 1, 0.0, 0.0, "m@1", **guess)
    beyond = (253402300799 + 14 * 3600) * 1_000_000
    table = with_columns(rows_to_table([row], 1), taken_at=[beyond])
    out = tmp_path / "tags.parquet"
    pq.write_table(table, out)
    build_report(ReportConfig(str(out), str(tmp_path / "r.html"), workers=0))
    assert len(section_items(lxml.html.parse(str(tmp_path / "r.html")).getroot(), "no_landmark")) == 1


def test_a_tagged_card_gives_its_place_once_and_a_located_card_its_note(tmp_path):
    photo = save_photo(tmp_path / "a.jpg", scene())
    rows = [
        ResultRow(str(photo), Status.TAGGED, 1, 0.0, 0.0, "m@1", landmarks=["Petra"], probabilities=[0.9],
                  estimated_latitude=30.3285, estimated_longitude=35.4444, estimated_country="JO"),
        ResultRow(str(tmp_path / "b.jpg"), Status.NO_LANDMARK, 1, 0.0, 0.0, "m@1"),
    ]  # fmt: skip
    table = with_columns(
        rows_to_table(rows, 1),
        location_latitude=[30.3285, 50.05],
        location_longitude=[35.4444, 4.0],
        location_source=["landmark", "track"],
        location_radius_m=[2000.0, 60.0],
        location_note=[None, "track and time disagree; the track is kept"],
    )
    out = tmp_path / "tags.parquet"
    pq.write_table(table, out)
    build_report(ReportConfig(str(out), str(tmp_path / "r.html"), workers=0))
    document = lxml.html.parse(str(tmp_path / "r.html")).getroot()
    (tagged,) = section_items(document, "tagged")
    assert tagged.text_content().count("30.3285, 35.4444") == 1
    assert "JOlocation (landmark, within 2,000 m): 30.3285, 35.4444" in tagged.text_content()
    (other,) = section_items(document, "no_landmark")
    assert "location (track, within 60 m)" in other.text_content()
    assert "track and time disagree; the track is kept" in other.text_content()
    title = document.xpath('//section[@id="section-no_landmark"]/h2')[0].text_content()
    assert "no location" not in title


def test_a_copy_is_shown_beside_its_original(tmp_path):
    from landmark_tag.pipeline.scan import ScanConfig, scan
    from tests.helpers import capture_exif, gps_exif, shapes

    photos, out, report = tmp_path / "photos", tmp_path / "tags.parquet", tmp_path / "report.html"
    picture = shapes((1200, 900), seed=1)
    save_photo(
        photos / "IMG_0001.jpg",
        picture,
        exif=capture_exif(gps_exif(50.85, 4.35), taken="2024:05:01 10:00:00"),
    )
    save_photo(photos / "from-a-messenger.jpg", picture.resize((600, 450)), quality=70)
    save_photo(photos / "another.jpg", shapes((1200, 900), seed=2))
    scan(ScanConfig([str(photos)], str(out)))
    build_report(ReportConfig(str(out), str(report), workers=0))
    document = lxml.html.parse(str(report)).getroot()
    cards = document.xpath('//figure[contains(@class, "card")]')
    pairs = {
        card.xpath('string(.//div[@class="path"])'): card
        for card in cards
        if card.xpath('.//div[@class="pair"]')
    }
    assert list(pairs) == ["from-a-messenger.jpg"]
    card = pairs["from-a-messenger.jpg"]
    assert len(card.xpath('.//div[@class="pair"]//img[@class="thumb"]')) == 2
    assert (
        "copy of IMG_0001.jpg" in card.text_content()
        and "location (copy, within 20 m)" in card.text_content()
    )
