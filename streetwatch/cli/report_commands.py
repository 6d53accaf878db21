"""``streetwatch report``: the monthly report (通报) as Markdown, CSV or PDF, from the command line.

Register in ``streetwatch/cli/main.py``::

    from streetwatch.cli import report_commands
    app.command("report")(report_commands.report)
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console

console = Console(stderr=True)


def report(
    month: Annotated[str | None, typer.Option(help="YYYY-MM (default: this month, so far).")] = None,
    report_format: Annotated[str, typer.Option(
        "--format", help="md (Markdown), csv, or pdf (charts, trend, recurring places, overdue cases).")] = "md",
    out: Annotated[Path | None, typer.Option(
        help="Write here (default: standard output for md and csv, report-YYYY-MM.pdf for pdf).")] = None,
    db: Annotated[str | None, typer.Option("--db", help="Database URL (default: $STREETWATCH_DB_URL or "
                                                        "sqlite:///streetwatch.db).")] = None,
) -> None:
    """Write the monthly report: KPIs overall, per unit and per grid, units ranked by 按期结案率.

    Its figures are those of GET /kpis with since and until at the month's bounds (in the workflow
    calendar's time zone). The PDF adds charts (cases per family and unit, the ranking, the six-month
    trend), coverage per grid (when coverage data is supplied), the top recurring places and the worst
    overdue cases; it needs a CJK TrueType font (Debian's fonts-wqy-zenhei).

    Examples:
      streetwatch report --month 2026-11 --db sqlite:///city.db
      streetwatch report --month 2026-11 --format pdf --out 通报-2026-11.pdf --db sqlite:///city.db
    """
    from streetwatch.casework.config import load_workflow_config
    from streetwatch.casework.report import month_bounds, render_csv, render_markdown
    from streetwatch.casework.report_data import build_monthly_report, month_kpis
    from streetwatch.core.settings import get_settings
    from streetwatch.store.db import make_engine, make_session_factory
    from streetwatch.store.models import utcnow

    if report_format not in ("md", "csv", "pdf"):
        console.print(f"[bold red]error:[/] --format must be md, csv or pdf, got {report_format!r}")
        raise typer.Exit(2)
    chosen: Literal["md", "csv", "pdf"] = report_format  # type: ignore[assignment]
    settings = get_settings(**({"db_url": db} if db else {}))
    config = load_workflow_config(settings.case_radius_m, settings.zones_paths, settings.workflow)
    calendar = config.deadlines.calendar
    month = month or utcnow().astimezone(calendar.timezone).strftime("%Y-%m")
    try:
        month_bounds(month, calendar.timezone)
    except ValueError as exc:
        console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from None
    engine = make_engine(settings.db_url)
    try:
        with make_session_factory(engine)() as session:
            if chosen == "pdf":
                from streetwatch.casework.report_pdf import render_pdf
                from streetwatch.core.taxonomy import load_taxonomy

                names = {name: spec.name_zh for name, spec in load_taxonomy(settings.taxonomy_path).families.items()}
                data = render_pdf(build_monthly_report(session, month, calendar), family_names=names,
                                  font_path=settings.web.report_font_path)
                target = out or Path(f"report-{month}.pdf")
                target.write_bytes(data)
                console.print(f"wrote {target} ({len(data)} bytes)")
                return
            kpis = month_kpis(session, month, calendar)
    finally:
        engine.dispose()
    text = render_csv(kpis) if chosen == "csv" else render_markdown(kpis)
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")
        console.print(f"wrote {out}")
