"""The monthly report as a PDF over HTTP and from the CLI: six months of generated case work; its text
(``pdftotext``) holds the same figures as ``GET /kpis`` for the month and for each month of the trend,
the units in the order their 按期结案率 ranks them, the recurring places of ``GET /hotspots/recurring``,
and its charts are images in it (``pdfimages``)."""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from streetwatch.api.app import create_app
from streetwatch.casework.report_data import CoverageRow, build_monthly_report
from streetwatch.casework.report_pdf import render_pdf
from streetwatch.cli.main import app as cli_app
from streetwatch.core.settings import Settings
from streetwatch.store.db import make_engine, make_session_factory, upgrade
from tests.api.auth_support import STANDARD_USERS, TEST_AUTH_SECRET, TestUser, add_users_at
from tests.casework.city_builders import build_city
from tests.casework.store_builders import CONFIG

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("pdftotext") is None or shutil.which("pdfimages") is None,
                                 reason="needs poppler-utils (pdftotext, pdfimages)")]
MONTHS = ["2026-06", "2026-07", "2026-08", "2026-09", "2026-10", "2026-11"]
MONTH = MONTHS[-1]
RATES = ("disposal_rate", "on_time_disposal_rate", "closure_rate", "on_time_closure_rate", "rework_rate",
         "extension_rate")
COLUMNS = ("filed", "dispatched", "handled", "handled_on_time", "closed", "closed_on_time", *RATES)


@dataclass(frozen=True, slots=True)
class City:
    url: str
    client: TestClient
    users: dict[str, TestUser]

    def get(self, path: str, who: str = "supervisor", **params: Any) -> Any:
        response = self.client.get(path, params=params, headers=self.users[who].headers())
        assert response.status_code == 200, response.text
        return response


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Iterator[City]:
    root = tmp_path_factory.mktemp("city")
    url = f"sqlite:///{root / 'city.db'}"
    upgrade(url)
    engine = make_engine(url)
    build_city(make_session_factory(engine), MONTHS)
    engine.dispose()
    users = add_users_at(url, STANDARD_USERS)
    settings = Settings(db_url=url, evidence_dir=root / "evidence", auth_secret=TEST_AUTH_SECRET)
    with TestClient(create_app(settings)) as client:
        yield City(url, client, users)


def _text(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True,
                          text=True).stdout


def _images(pdf: bytes, tmp_path: Path) -> list[list[str]]:
    path = tmp_path / "images.pdf"
    path.write_bytes(pdf)
    listing = subprocess.run(["pdfimages", "-list", str(path)], check=True, capture_output=True, text=True).stdout
    return [line.split() for line in listing.splitlines()[2:] if line.split()[2] == "image"]


def _cells(row: dict[str, Any]) -> list[str]:
    return [("—" if row[n] is None else f"{100 * row[n]:.1f}%") if n in RATES else str(row[n]) for n in COLUMNS]


def _section(text: str, start: str, end: str) -> list[str]:
    return [line for line in text[text.index(start):text.index(end)].splitlines() if line.strip()]


def _kpis(city: City, month: str) -> dict[str, Any]:
    year, number = (int(p) for p in month.split("-"))
    until = f"{year + number // 12}-{number % 12 + 1:02d}-01T00:00:00"
    kpis: dict[str, Any] = city.get("/kpis", since=f"{month}-01T00:00:00", until=until).json()
    return kpis


def test_the_pdf_holds_the_kpis_of_the_month(city: City, tmp_path: Path) -> None:
    kpis = _kpis(city, MONTH)
    response = city.get("/reports/monthly", month=MONTH, format="pdf")
    assert response.headers["content-type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-")
    text = _text(response.content, tmp_path)
    assert "2026年11月 城市管理问题处置情况通报" in text  # Chinese text extracts as Chinese: the font is embedded
    assert kpis["total"]["filed"] > 0 and len(kpis["by_unit"]) >= 3

    overall = next(line.split() for line in text.splitlines() if line.split()[:1] == ["全市"])
    assert overall == ["全市", *_cells(kpis["total"])]

    # Units ranked by 按期结案率, then 按期处置率 (no rate last), then name: the API's rows in that order.
    def rank_key(row: dict[str, Any]) -> tuple[float, float, str]:
        closure, disposal = row["on_time_closure_rate"], row["on_time_disposal_rate"]
        return (-(closure if closure is not None else -1), -(disposal if disposal is not None else -1),
                row["key"] or "")
    expected = sorted(kpis["by_unit"], key=rank_key)
    ranked_lines = [line.split() for line in _section(text, "三、", "四、") if re.match(r"\s*\d+\. ", line)]
    assert [line[1] for line in ranked_lines] == [row["key"] for row in expected]
    assert [line[2:] for line in ranked_lines] == [_cells(row) for row in expected]
    assert [line[0] for line in ranked_lines] == [f"{i}." for i in range(1, len(expected) + 1)]

    # The trend: each month's filed, closed, closed on time and rates are GET /kpis for that month.
    trend = {line.split()[0]: line.split()[1:] for line in _section(text, "五、", "六、")
             if re.match(r"\s*\d{4}-\d{2}\s", line)}
    assert list(trend) == MONTHS
    for month in MONTHS:
        total = _kpis(city, month)["total"]
        assert trend[month] == [str(total["filed"]), str(total["closed"]), str(total["closed_on_time"]),
                                *(_cells(total)[COLUMNS.index(n)] for n in ("closure_rate", "on_time_closure_rate"))]
    assert "No coverage data was supplied" in text

    # Recurring places: the API's ranking for the month against the previous month, cell by cell.
    places = city.get("/hotspots/recurring", since="2026-11-01T00:00:00", until="2026-12-01T00:00:00",
                      limit=10).json()["items"]
    assert places, "the generated city has recurring places"
    listed = [line.split() for line in _section(text, "七、", "八、") if re.match(r"\s*\d+\. [0-9a-f]{15}\s", line)]
    counts = [[token for token in row[2:] if re.fullmatch(r"[+-]?\d+", token)] for row in listed]
    assert [(row[1], *numbers[:4]) for row, numbers in zip(listed, counts, strict=True)] == [
        (p["cell"], str(p["cases"]), str(p["recurrences"]), str(p["reopened"]), str(p["score"])) for p in places]

    # The charts: cases per family and unit, the ranking, the trend, the recurring places.
    assert len(_images(response.content, tmp_path)) == 4

    # Markdown and CSV stay, with the same totals.
    markdown = city.get("/reports/monthly", month=MONTH).text
    assert f"| 全市 | {' | '.join(_cells(kpis['total']))} |" in markdown
    csv_text = city.get("/reports/monthly", month=MONTH, format="csv").text
    assert csv_text.splitlines()[1].startswith(f"{MONTH},total,,{kpis['total']['filed']},")


def test_coverage_section_and_same_bytes_twice(city: City, tmp_path: Path) -> None:
    coverage = [CoverageRow("G-001", 12, 16, 0.75, datetime(2026, 11, 28, 2, 0, tzinfo=UTC)),
                CoverageRow("G-002", 0, 9, 0.0, None)]
    engine = make_engine(city.url)
    with make_session_factory(engine)() as session:
        pack = build_monthly_report(session, MONTH, CONFIG.deadlines.calendar,
                                    coverage=lambda since, until: coverage, now=datetime(2026, 12, 1, 1, tzinfo=UTC))
    engine.dispose()
    first, second = render_pdf(pack), render_pdf(dataclasses.replace(pack))
    assert first == second  # invariant mode and charts without variable metadata
    text = _text(first, tmp_path)
    assert "No coverage data" not in text
    rows = {line.split()[0]: line.split()[1:] for line in _section(text, "六、", "七、") if line.split()[0][:2] == "G-"}
    assert rows == {"G-001": ["12", "16", "75.0%", "2026-11-28", "10:00"], "G-002": ["0", "9", "0.0%", "—"]}
    assert len(_images(first, tmp_path)) == 5  # the coverage chart too


def test_cli_writes_the_pdf_and_markdown(city: City, tmp_path: Path) -> None:
    out = tmp_path / "通报.pdf"
    runner = CliRunner()
    result = runner.invoke(cli_app, ["report", "--month", MONTH, "--format", "pdf", "--out", str(out),
                                     "--db", city.url])
    assert result.exit_code == 0, result.output
    text = _text(out.read_bytes(), tmp_path)
    total = _kpis(city, MONTH)["total"]
    assert next(line.split() for line in text.splitlines() if line.split()[:1] == ["全市"]) == ["全市", *_cells(total)]
    markdown = runner.invoke(cli_app, ["report", "--month", MONTH, "--db", city.url])
    assert markdown.exit_code == 0 and f"| 全市 | {' | '.join(_cells(total))} |" in markdown.output
    bad = runner.invoke(cli_app, ["report", "--month", "2026-13", "--db", city.url])
    assert bad.exit_code == 2 and "YYYY-MM" in bad.output


def test_hotspots_over_http(city: City) -> None:
    period = {"since": "2026-11-01T00:00:00", "until": "2026-12-01T00:00:00"}
    heat = city.get("/hotspots", **period).json()
    assert heat["count"] == len(heat["points"]) > 0 and all(w == 1.0 for *_, w in heat["points"])
    cases = city.get("/hotspots", kind="cases", **period).json()
    assert sum(w for *_, w in cases["points"]) == heat["count"] and cases["count"] <= heat["count"]
    parking = city.get("/hotspots", family="parking", **period).json()
    assert 0 < parking["count"] < heat["count"] and parking["family"] == "parking"
    assert heat["truncated"] is False
    newest = city.get("/hotspots", limit=3, **period).json()
    assert (newest["count"], newest["truncated"]) == (3, True)
    busiest = city.get("/hotspots", kind="cases", limit=1, **period).json()["points"]
    assert busiest[0][2] == max(w for *_, w in cases["points"])
    # A dispatcher of a unit with no case here sees nothing; a reversed period is a 422.
    mine = city.get("/hotspots", who="dispatcher", **period).json()
    assert (mine["count"], mine["unit"]) == (0, city.users["dispatcher"].unit)
    reversed_period = city.client.get("/hotspots", params={"since": period["until"], "until": period["since"]},
                                      headers=city.users["supervisor"].headers())
    assert reversed_period.status_code == 422
    assert city.get("/hotspots/recurring", who="dispatcher", **period).json()["items"] == []
    recurring = city.get("/hotspots/recurring", resolution=8, **period).json()
    assert recurring["previous_until"].startswith("2026-11-01T00:00:00")
    assert [p["rank"] for p in recurring["items"]] == list(range(1, len(recurring["items"]) + 1))
    assert all(p["trend"] == p["score"] - p["previous_score"] for p in recurring["items"])


def test_without_a_cjk_font_the_pdf_is_a_clear_500(city: City, tmp_path: Path) -> None:
    settings = Settings(db_url=city.url, evidence_dir=tmp_path, auth_secret=TEST_AUTH_SECRET,
                        web={"report_font_path": tmp_path / "no-such-font.ttc"})
    with TestClient(create_app(settings)) as client:
        headers = city.users["supervisor"].headers()
        response = client.get("/reports/monthly", params={"month": MONTH, "format": "pdf"}, headers=headers)
        assert response.status_code == 500
        assert "STREETWATCH_REPORT_FONT_PATH=" in response.json()["detail"]
        assert "no-such-font.ttc is not a file" in response.json()["detail"]
        markdown = client.get("/reports/monthly", params={"month": MONTH}, headers=headers)
        assert markdown.status_code == 200  # Markdown needs no font


def test_a_month_with_nothing_filed(city: City, tmp_path: Path) -> None:
    engine = make_engine(city.url)
    with make_session_factory(engine)() as session:
        pack = build_monthly_report(session, "2026-02", CONFIG.deadlines.calendar)
    engine.dispose()
    assert (pack.report.total.filed, pack.by_family, pack.recurring, pack.overdue) == (0, [], [], [])
    assert [t.month for t in pack.trend] == ["2025-09", "2025-10", "2025-11", "2025-12", "2026-01", "2026-02"]
    text = _text(render_pdf(pack), tmp_path)
    assert "No place recurred in this period" in text and "No case is overdue" in text
    assert next(line.split() for line in text.splitlines() if line.split()[:1] == ["全市"]) == [
        "全市", "0", "0", "0", "0", "0", "0", "—", "—", "—", "—", "—", "—"]
    assert len(_images(render_pdf(pack), tmp_path)) == 2  # cases per family and unit (empty), the trend
