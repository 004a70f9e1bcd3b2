"""The report as a browser shows it: headless Chromium renders it, takes a screenshot and dumps the DOM."""

import shutil
import subprocess
from urllib.parse import urlencode

import lxml.html
import pytest
from PIL import Image

from landmark_tag.files.results import read_results
from landmark_tag.report.build import ReportConfig, build_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="needs Chromium (Debian package `chromium`, which .ci/run installs)"
)


def chromium(*args: str, profile) -> str:
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               f"--user-data-dir={profile}", "--window-size=1280,1400", *args]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True).stdout


@pytest.mark.parametrize("assets", [False, True], ids=["embedded", "assets-dir"])
def test_chromium_renders_the_report(scanned, tmp_path, assets):
    report = tmp_path / "report.html"
    assets_dir = str(tmp_path / "report-files") if assets else None
    build_report(ReportConfig(str(scanned["out"]), str(report), assets_dir=assets_dir, workers=0))
    url = report.resolve().as_uri()

    dom = lxml.html.fromstring(chromium("--dump-dom", url, profile=tmp_path / "profile"))
    prefix = "report-files/" if assets else "data:image/jpeg;base64,"
    visible = dom.xpath(f'//figure[not(@hidden)]//img[@class="thumb" and starts-with(@src, "{prefix}")]')
    shown_statuses = ["tagged", "uncertain", "no_landmark", "skipped_gps"]
    expected = read_results(scanned["out"])["status"].isin(shown_statuses).sum()
    assert len(visible) == expected > 0
    assert len(dom.xpath('//tbody[@id="list-failed"]/tr')) == 2

    shot = tmp_path / "shot.png"
    chromium(f"--screenshot={shot}", url, profile=tmp_path / "profile")
    with Image.open(shot) as image:
        rgb = image.convert("RGB")
        assert rgb.size == (1280, 1400)
        colours = rgb.getcolors(1 << 20)
    # A blank or unstyled page has a handful of colours; decoded photo thumbnails have thousands.
    assert colours is not None and len(colours) > 5000


def test_sorting_and_filtering_in_the_browser(scanned, tmp_path):
    report = tmp_path / "report.html"
    build_report(ReportConfig(str(scanned["out"]), str(report), workers=0))
    frame = read_results(scanned["out"])
    tagged = frame[frame["status"] == "tagged"]
    url = report.resolve().as_uri()

    dom = lxml.html.fromstring(chromium("--dump-dom", url + "#sort=confidence", profile=tmp_path / "p"))
    shown = [float(p) for p in dom.xpath('//div[@id="list-tagged"]/figure/@data-p')]
    assert shown == sorted(tagged["probability_1"].round(6), reverse=True)

    landmark = tagged["landmark_1"].iloc[0]
    query = urlencode({"sort": "landmark", "landmark": landmark})
    dom = lxml.html.fromstring(chromium("--dump-dom", f"{url}#{query}", profile=tmp_path / "p"))
    visible = dom.xpath('//div[@id="list-tagged"]/figure[not(@hidden)]/@data-landmark')
    assert visible == [landmark] * int((tagged["landmark_1"] == landmark).sum())
    # The headings count what the filter shows, out of the total.
    matching = int((tagged["landmark_1"] == landmark).sum())
    heading = dom.xpath('//section[@id="section-tagged"]/h2')[0].text_content()
    expected = f"({len(tagged)})" if matching == len(tagged) else f"({matching} of {len(tagged)})"
    assert heading.endswith(expected)

    # Hidden statuses are kept in the address too.
    dom = lxml.html.fromstring(
        chromium("--dump-dom", f"{url}#hide=failed,skipped_gps", profile=tmp_path / "p")
    )
    assert dom.xpath('//section[@id="section-failed"][@hidden]')
    assert dom.xpath('//section[@id="section-skipped_gps"][@hidden]')
    assert not dom.xpath('//section[@id="section-tagged"][@hidden]')


def test_the_place_filter_shows_the_photos_of_a_named_place_in_every_section(scanned, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(scanned["out"])
    status = table.column("status").to_pylist()
    # The located photo (own GPS) and the first tagged one are at "Home".
    home = {status.index("skipped_gps"), status.index("tagged")}
    named = pa.array(["Home" if i in home else None for i in range(table.num_rows)], pa.string())
    out = tmp_path / "named.parquet"
    pq.write_table(table.set_column(table.schema.get_field_index("named_place"), "named_place", named), out)
    report = tmp_path / "report.html"
    build_report(ReportConfig(str(out), str(report), workers=0))
    page = lxml.html.parse(str(report)).getroot()
    assert page.xpath('//select[@id="place"]/option/text()') == ["all", "Home (2)"]
    url = report.resolve().as_uri()
    dom = lxml.html.fromstring(chromium("--dump-dom", f"{url}#place=Home", profile=tmp_path / "p"))
    visible = dom.xpath("//figure[not(@hidden)]")
    assert len(visible) == 2 and {f.get("data-place") for f in visible} == {"Home"}
    assert "Home ·" in visible[0].text_content() + visible[1].text_content()
