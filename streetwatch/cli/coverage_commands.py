"""``streetwatch coverage``: which roads and grid cells the patrols drove, when, and the gaps.

Register in ``streetwatch/cli/main.py``::

    from streetwatch.cli import coverage_commands
    app.command("coverage")(coverage_commands.coverage)
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from streetwatch.core.vocab import CoverageStatus

COLOURS = {CoverageStatus.COVERED.value: "green", CoverageStatus.STALE.value: "yellow",
           CoverageStatus.NEVER.value: "red"}


def _time(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"expected an ISO 8601 time like 2026-12-01T08:00:00+08:00, got {text!r}",
                                 param_hint=option) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def coverage(
    db: Annotated[str | None, typer.Option("--db", help="Database URL (default: $STREETWATCH_DB_URL or "
                                                       "sqlite:///streetwatch.db).")] = None,
    roads: Annotated[Path | None, typer.Option(help="Road network GeoJSON (default: $STREETWATCH_ROADS_PATH); "
                                                    "without one, coverage is per grid cell only.")] = None,
    since: Annotated[str | None, typer.Option(help="Period start, ISO 8601 (default: --days before until).")] = None,
    until: Annotated[str | None, typer.Option(help="Period end and the time statuses are judged at "
                                                   "(default: now); naive times are UTC.")] = None,
    days: Annotated[int, typer.Option(min=1, max=3660, help="Period length when --since is not given.")] = 30,
    status: Annotated[CoverageStatus | None, typer.Option(help="Only segments and cells with this status.")] = None,
    unit: Annotated[str | None, typer.Option(help="Only the roads of this responsible unit.")] = None,
    cells: Annotated[bool, typer.Option("--cells", help="Also list the grid cells.")] = False,
    geojson: Annotated[Path | None, typer.Option(help="Write the coverage as GeoJSON here.")] = None,
    csv_path: Annotated[Path | None, typer.Option("--csv", help="Write the coverage as CSV here.")] = None,
) -> None:
    """Per road segment (and city grid cell, 网格): last patrolled, passes in the period, covered / stale / never.

    Passes are recorded by `streetwatch process` from each video's GPS track (set STREETWATCH_ROADS_PATH
    when processing, so tracks are matched to the roads; grid cells come from STREETWATCH_ZONES_PATHS);
    stale-after days per road class are in models/workflow/coverage.yaml (STREETWATCH_WORKFLOW_COVERAGE_PATH).
    """
    import json

    from streetwatch.casework.coverage import coverage_report, load_coverage_config, report_csv, report_geojson
    from streetwatch.core.settings import get_settings
    from streetwatch.store.db import make_engine, make_session_factory, upgrade

    console = Console()  # made here, so the terminal's width (COLUMNS) is read when the command runs
    settings = get_settings(db_url=db, roads_path=roads)
    end = _time(until, "--until") or datetime.now(UTC)
    start = _time(since, "--since") or end - timedelta(days=days)
    if start > end:
        raise typer.BadParameter(f"--since ({start.isoformat()}) is after --until ({end.isoformat()})")
    config = load_coverage_config(settings.roads_path, settings.workflow.coverage_path,
                                  settings.coverage_h3_resolution, settings.coverage_match_m, settings.zones_paths)
    upgrade(settings.db_url)
    engine = make_engine(settings.db_url)
    try:
        with make_session_factory(engine)() as session:
            report = coverage_report(session, config, start, end, unit=unit, status=status)
    finally:
        engine.dispose()
    table = Table(title=f"Road coverage {start:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M} UTC")
    for column in ("segment", "road", "class", "路长", "unit", "status", "last patrolled", "passes", "stale after"):
        table.add_column(column)
    for road in report.roads:
        s, stats = road.segment, road.stats
        last = stats.last_patrolled if stats else None
        table.add_row(s.id, s.name, s.road_class, s.road_chief or "—", s.unit or "—",
                      f"[{COLOURS[road.status]}]{road.status}[/]", f"{last:%Y-%m-%d %H:%M}" if last else "—",
                      str(stats.passes if stats else 0), f"{road.stale_after_days:g} d")
    if config.network is None:
        console.print("no road network (--roads or STREETWATCH_ROADS_PATH): grid cells only")
    else:
        console.print(table)
    if cells or config.network is None:
        grid = Table(title=f"Grid cells (H3 resolution {config.h3_resolution})")
        for column in ("cell", "status", "last patrolled", "passes", "roads"):
            grid.add_column(column)
        for cell in report.cells:
            last = cell.stats.last_patrolled if cell.stats else None
            grid.add_row(cell.cell, f"[{COLOURS[cell.status]}]{cell.status}[/]",
                         f"{last:%Y-%m-%d %H:%M}" if last else "—", str(cell.stats.passes if cell.stats else 0),
                         ", ".join(cell.roads))
        console.print(grid)
    if report.grids:
        grid_table = Table(title="City grid cells (网格)")
        for column in ("grid", "name", "unit", "status", "last patrolled", "passes"):
            grid_table.add_column(column)
        for area in report.grids:
            last = area.stats.last_patrolled if area.stats else None
            grid_table.add_row(area.grid.grid_id, area.grid.name, area.grid.unit or "—",
                               f"[{COLOURS[area.status]}]{area.status}[/]", f"{last:%Y-%m-%d %H:%M}" if last else "—",
                               str(area.stats.passes if area.stats else 0))
        console.print(grid_table)
    counts = report.road_counts()
    console.print(f"roads: {counts['covered']} covered, {counts['stale']} stale, {counts['never']} never patrolled; "
                  "cells: " + ", ".join(f"{n} {k}" for k, n in report.cell_counts().items()))
    if geojson is not None:
        geojson.write_text(json.dumps(report_geojson(report), ensure_ascii=False), encoding="utf-8")
        console.print(f"GeoJSON written to {geojson}")
    if csv_path is not None:
        csv_path.write_text(report_csv(report), encoding="utf-8")
        console.print(f"CSV written to {csv_path}")
