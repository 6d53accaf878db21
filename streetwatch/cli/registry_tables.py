"""How the registry commands print: versions, one version's scores, a comparison, shadow agreement."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.table import Table

from streetwatch.core.vocab import ScoreName

SCORE_TITLES = {
    ScoreName.PRECISION: "precision",
    ScoreName.RECALL: "recall",
    ScoreName.MAP50: "mAP50",
}

if TYPE_CHECKING:
    from streetwatch.core.model_metrics import AgreementReport, EvalReport, Score
    from streetwatch.datasets.registry import Comparison
    from streetwatch.datasets.registry_types import VersionInfo
    from streetwatch.store.registry import ModelActivation


def number(value: float | None) -> str:
    """A score with three decimals; a dash for one that cannot be measured."""
    return "-" if value is None else f"{value:.3f}"


def versions_table(versions: Sequence[VersionInfo]) -> Table:
    table = Table(title="model registry")
    for column in ("version", "name", "parent", "active", "runs", "frozen-set mAP50", "created", "by"):
        table.add_column(column, justify="right" if column in ("version", "parent") else "left")
    for v in versions:
        overall = v.metrics.overall.map50 if v.metrics is not None else None
        table.add_row(str(v.version), v.name, "-" if v.parent_version is None else str(v.parent_version),
                      "active" if v.active else "", v.runtime_file, number(overall),
                      v.created_at.strftime("%Y-%m-%d %H:%M"), v.created_by)
    return table


def version_table(v: VersionInfo) -> Table:
    table = Table(title=f"model version {v.version}: {v.label}{' (active)' if v.active else ''}", show_header=False)
    table.add_column("field")
    table.add_column("value", overflow="fold")
    table.add_row("parent", "-" if v.parent_version is None else str(v.parent_version))
    table.add_row("folder", str(v.folder))
    for stored in (v.weights, *v.exports):
        role = "weights" if stored is v.weights else "export"
        runs = " (process runs this)" if stored.file == v.runtime_file else ""
        table.add_row(role, f"{stored.file}{runs}\nsha256 {stored.sha256}")
    table.add_row("training data", f"manifest.csv sha256 {v.data_manifest_sha256 or 'unknown'}")
    table.add_row("trained by", v.train_command or "unknown")
    if v.training:
        table.add_row("training", ", ".join(f"{k}: {val}" for k, val in v.training.items()))
    table.add_row("registered", f"{v.created_at.isoformat(timespec='seconds')} by {v.created_by}")
    if v.note:
        table.add_row("note", v.note)
    return table


def report_table(report: EvalReport, title: str, classes: dict[str, str]) -> Table:
    """One model's scores per family, and under each its classes (``classes``: class -> family), on the frozen set."""
    table = Table(title=title)
    for column in ("family / class", "instances", "detections", *SCORE_TITLES.values()):
        table.add_column(column, justify="left" if column.startswith("family") else "right")

    def row(name: str, s: Score) -> None:
        table.add_row(name, str(s.instances), str(s.detections), *(number(s.value(n)) for n in SCORE_TITLES))

    for family, score in sorted(report.families.items()):
        row(f"[bold]{family}[/]", score)
        for name, class_score in sorted(report.classes.items()):
            if classes.get(name) == family:
                row(f"  {name}", class_score)
    row("all", report.overall)
    return table


def comparison_table(comparison: Comparison, classes: dict[str, str]) -> Table:
    """Per family, then per class (``classes``: class -> family): both models' precision, recall and mAP50."""
    cur, cand = comparison.current.report, comparison.candidate.report
    table = Table(title=f"{comparison.current.label} (current) vs {comparison.candidate.label} (candidate) on the "
                        f"frozen set: {cur.frames} frames, precision and recall at confidence {cur.conf}, IoU 0.5")
    table.add_column("family / class")
    table.add_column("instances", justify="right")
    for title in SCORE_TITLES.values():
        table.add_column(f"{title} cur", justify="right")
        table.add_column(f"{title} cand", justify="right")
    table.add_column("gate")
    worse = {r.family for r in comparison.regressions}

    def row(name: str, mine: Score | None, theirs: Score | None, gate: str = "") -> None:
        values = []
        for score in SCORE_TITLES:
            values += [number(mine.value(score) if mine else None), number(theirs.value(score) if theirs else None)]
        known = mine or theirs
        instances = known.instances if known is not None else 0
        table.add_row(name, str(instances), *values, gate)

    for family in sorted(set(cur.families) | set(cand.families)):
        either = cur.families.get(family) or cand.families.get(family)
        measured = either is not None and either.instances > 0
        gate = "worse" if family in worse else ("ok" if measured else "not measured")
        row(family, cur.families.get(family), cand.families.get(family), gate)
        for name in sorted(set(cur.classes) | set(cand.classes)):
            if classes.get(name) == family:
                row(f"  {name}", cur.classes.get(name), cand.classes.get(name))
    row("all", cur.overall, cand.overall)
    return table


def agreement_table(report: AgreementReport) -> Table:
    table = Table(title=f"shadow footage: {report.shadow_model} against {', '.join(report.active_models)} on "
                        f"{report.frames} frames of {report.videos} video(s) (IoU 0.5, same class)")
    for column in ("class", "active", "shadow", "found", "confirmed"):
        table.add_column(column, justify="left" if column == "class" else "right")
    for name, s in report.classes.items():
        table.add_row(name, str(s.active), str(s.shadow), number(s.found), number(s.confirmed))
    o = report.overall
    table.add_row("all", str(o.active), str(o.shadow), number(o.found), number(o.confirmed))
    return table


def activations_table(rows: Sequence[ModelActivation]) -> Table:
    table = Table(title="activations (newest last; the last is the active version)")
    for column in ("when", "action", "version", "from", "forced", "by", "reason"):
        table.add_column(column, overflow="fold")
    for a in rows:
        table.add_row(a.created_at.strftime("%Y-%m-%d %H:%M:%S"), str(a.action), str(a.version),
                      "-" if a.previous_version is None else str(a.previous_version), "yes" if a.forced else "",
                      a.actor, a.reason or "")
    return table
