"""``streetwatch zones``: what the database holds inside each zone of a city's zone files.

Register with ``app.add_typer(zones_app, name="zones")`` in ``streetwatch/cli/main.py``.

Zones stay in their GeoJSON files (``streetwatch.core.zones``); this asks the database which
stored cases and violations lie inside each one: on PostGIS with ``ST_Intersects`` on the GiST
index, elsewhere with the zone's bounds in SQL and the exact test in shapely
(``streetwatch.store.spatial.ids_in_polygon``). Both give the same rows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from streetwatch.cli.errors import streetwatch_typer

zones_app = streetwatch_typer(help="City zones (GeoJSON, see docs/rules.md) against the stored cases.",
                              no_args_is_help=True)


@zones_app.command("tally")
def tally(
    zones: Annotated[list[Path], typer.Option("--zones", help="GeoJSON zone file; repeatable.")],
    db: Annotated[str | None, typer.Option("--db", help="Database URL (default: sqlite:///streetwatch.db).")]
    = None,
    kind: Annotated[str | None, typer.Option(
        help="Only zones of this kind: no_parking, no_vending, permitted_vending, grid.")] = None,
) -> None:
    """Per zone: the cases (all, and not closed) and violations (all, and pending review) inside it.

    A point on a zone's edge counts as inside, as it does for the rules. Zones may overlap: a
    case inside two grid cells counts in both.

    Example: streetwatch zones tally --zones models/zones/sample-zones.geojson --kind grid --db postgresql://...
    """
    from streetwatch.core.settings import get_settings
    from streetwatch.core.zones import ZONE_KINDS, ZoneError, load_zones
    from streetwatch.store.db import make_engine, make_session_factory
    from streetwatch.store.spatial import postgis_enabled, tally_zone

    if kind is not None and kind not in ZONE_KINDS:
        raise ZoneError(f"unknown zone kind '{kind}' (expected one of {', '.join(ZONE_KINDS)})")
    index = load_zones(zones)
    url = get_settings(db_url=db).db_url
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session:
            table = Table("zone", "kind", "name", "cases", "not closed", "violations", "pending",
                          title=f"zones against {engine.url.render_as_string(hide_password=True)} "
                                f"({'PostGIS' if postgis_enabled(session) else 'lat/lon'})")
            for zone in index:
                if kind is not None and zone.kind != kind:
                    continue
                counts = tally_zone(session, zone.geometry.wkt)
                table.add_row(zone.id, zone.kind, zone.name, str(counts.cases), str(counts.open_cases),
                              str(counts.violations), str(counts.pending))
    finally:
        engine.dispose()
    Console().print(table)  # made here: the width is the terminal's (or $COLUMNS) at the time
