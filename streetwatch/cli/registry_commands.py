"""``streetwatch models list/show/register/compare/promote/rollback``: the model registry on the command line.

Added to the ``models`` group in ``streetwatch/cli/main.py``. See ``streetwatch.datasets.registry``.
"""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from streetwatch.cli import registry_tables as tables

if TYPE_CHECKING:
    from streetwatch.datasets.registry import Registry

err = Console(stderr=True, soft_wrap=True)
DbOption = Annotated[str | None, typer.Option("--db", help="Database URL (default: sqlite:///streetwatch.db).")]
EvidenceOption = Annotated[Path | None, typer.Option(
    "--evidence", help="Evidence folder, where the frozen set's frames are (default: ./evidence).")]
ModelsDirOption = Annotated[Path | None, typer.Option(
    "--models-dir", help="The registry's files (default: var/models, or STREETWATCH_MODELS_DIR).")]
ByOption = Annotated[str | None, typer.Option(
    "--by", help="Who does it, for the registry and the audit log (default: your login name).")]


def out() -> Console:
    """Standard output, made when a command runs (so COLUMNS set by then counts)."""
    return Console(soft_wrap=False)


def actor(by: str | None) -> str:
    """``--by``, else the login name."""
    if by and by.strip():
        return by.strip()
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (a container without a passwd entry)
        return "unknown"


@contextmanager
def open_registry(db: str | None, evidence: Path | None, models_dir: Path | None) -> Iterator[Registry]:
    """The registry of the deployment the options (and the environment) name."""
    from streetwatch.core.settings import get_settings
    from streetwatch.datasets.registry import Registry

    with Registry(get_settings(db_url=db, evidence_dir=evidence, models_dir=models_dir)) as registry:
        yield registry


def list_versions(db: DbOption = None, models_dir: ModelsDirOption = None) -> None:
    """List the registered model versions, marking the active one.

    The registry is empty until the first model is registered (`models register`, `train --register`); the
    bundled model then becomes version 1, the active one. While it is empty `process` runs the bundled model.
    """
    with open_registry(db, None, models_dir) as registry:
        versions = registry.versions()
    if not versions:
        out().print("the model registry is empty: `process` runs the bundled model. It becomes version 1 when the "
                    "first model is registered (streetwatch models register, streetwatch train --register).")
        return
    out().print(tables.versions_table(versions))


def show(
    version: Annotated[str, typer.Argument(help="A version number (3 or v3), or 'active'.")],
    db: DbOption = None,
    models_dir: ModelsDirOption = None,
) -> None:
    """Show one version: its parent, files and their sha256, training data and command, scores, activations."""
    from streetwatch.datasets.registry_types import ModelRef

    with open_registry(db, None, models_dir) as registry:
        info = registry.version(registry.resolve(ModelRef.of(version)))
        history = [a for a in registry.activations() if info.version in (a.version, a.previous_version)]
        classes = families_of(registry)
    console = out()
    console.print(tables.version_table(info))
    if info.metrics is not None:
        console.print(tables.report_table(info.metrics, f"on the frozen set at registration ({info.metrics.frames} "
                                                        f"frames, set {info.metrics.eval_set_sha256[:12]}...)",
                                          classes))
    else:
        console.print("no scores: the frozen evaluation set was empty when it was registered")
    if history:
        console.print(tables.activations_table(history))


def register(
    weights: Annotated[Path, typer.Argument(help="The weights: a .pt (or an .onnx when that is all there is).")],
    export: Annotated[list[Path] | None, typer.Option(
        "--export", help="An export of the weights (.onnx, int8 .onnx); repeatable.")] = None,
    runtime: Annotated[Path | None, typer.Option(
        help="The file `process` runs (default: the first --export, else WEIGHTS).")] = None,
    name: Annotated[str | None, typer.Option(help="A short name (default: WEIGHTS' stem).")] = None,
    parent: Annotated[int | None, typer.Option(help="The version it was fine-tuned from.")] = None,
    data_manifest: Annotated[Path | None, typer.Option(
        help="The training dataset's manifest.csv (its sha256 is recorded).")] = None,
    command: Annotated[str | None, typer.Option(help="The command that trained it.")] = None,
    note: Annotated[str | None, typer.Option(help="Anything else worth knowing.")] = None,
    db: DbOption = None,
    evidence: EvidenceOption = None,
    models_dir: ModelsDirOption = None,
    by: ByOption = None,
) -> None:
    """Register weights trained elsewhere (a GPU machine) as a new candidate version, measured on the frozen set.

    The files are copied into the registry's folder with their sha256. The first registration registers the
    bundled model first, as version 1, the active version. A new version is a candidate: `models promote`
    makes it the one `process` runs.

    Example: streetwatch models register gpu/best.pt --export gpu/best-384x640.onnx --parent 1 \\
        --data-manifest var/datasets/city-2026-11/manifest.csv --command "yolo train ..." --name city-2026-11
    """
    from streetwatch.datasets.registry_types import ModelSource
    from streetwatch.store.model_files import ModelSourceError, sha256_file

    if data_manifest is not None and not data_manifest.is_file():
        raise ModelSourceError(f"--data-manifest {data_manifest} is not a file")
    source = ModelSource(weights=weights, name=name or weights.stem, exports=tuple(export or ()), runtime=runtime,
                         parent_version=parent, train_command=command, note=note,
                         data_manifest_sha256=sha256_file(data_manifest) if data_manifest is not None else None)
    with open_registry(db, evidence, models_dir) as registry:
        info = registry.register(source, actor=actor(by))
        classes = families_of(registry)
    report_registered(info, classes)


def families_of(registry: Registry) -> dict[str, str]:
    """Class -> family, from the registry's taxonomy."""
    return {name: spec.family for name, spec in registry.taxonomy.classes.items()}


def report_registered(info: object, classes: dict[str, str]) -> None:
    """Print what a registration recorded."""
    from streetwatch.datasets.registry_types import VersionInfo

    assert isinstance(info, VersionInfo)
    console = out()
    console.print(f"registered version {info.version} ({info.label}), a candidate: `streetwatch models promote "
                  f"{info.version}` makes it the active version", highlight=False)
    if info.metrics is not None:
        console.print(tables.report_table(info.metrics, f"{info.label} on the frozen set ({info.metrics.frames} "
                                                        "frames)", classes))
    else:
        console.print("no scores: the frozen evaluation set is empty (streetwatch dataset freeze-eval)")


def compare(
    current: Annotated[str, typer.Argument(help="A version (3, v3, active) or a .pt/.onnx file.")],
    candidate: Annotated[str, typer.Argument(help="A version (3, v3, active) or a .pt/.onnx file.")],
    db: DbOption = None,
    evidence: EvidenceOption = None,
    models_dir: ModelsDirOption = None,
) -> None:
    """Print both models' precision, recall and mAP50 per family and class on the frozen evaluation set, whether
    `promote` would refuse the candidate, and (when it ran in shadow) how it agrees with the active model.

    Example: streetwatch models compare active 4
    """
    from streetwatch.datasets.registry_types import ModelRef

    with open_registry(db, evidence, models_dir) as registry:
        comparison = registry.compare(ModelRef.of(current), ModelRef.of(candidate))
        classes = families_of(registry)
    print_comparison(comparison, classes)


def print_comparison(comparison: object, classes: dict[str, str]) -> None:
    from streetwatch.datasets.registry import Comparison

    assert isinstance(comparison, Comparison)
    console = out()
    console.print(tables.comparison_table(comparison, classes))
    if comparison.regressions:
        console.print(f"promote would refuse {comparison.candidate.label}: "
                      + "; ".join(str(r) for r in comparison.regressions)
                      + f" (tolerance {comparison.tolerance}, scores {', '.join(comparison.scores)})", highlight=False)
    else:
        console.print(f"{comparison.candidate.label} is within {comparison.tolerance} of {comparison.current.label} "
                      f"on every family ({', '.join(comparison.scores)}): promote would accept it", highlight=False)
    if comparison.agreement is not None:
        console.print(tables.agreement_table(comparison.agreement))
    else:
        console.print(f"no shadow footage for {comparison.candidate.label} (streetwatch process --shadow-model)",
                      highlight=False)


def promote(
    candidate: Annotated[str, typer.Argument(help="The version to make active (3 or v3).")],
    force: Annotated[bool, typer.Option(help="Promote even if the gate refuses (needs --reason).")] = False,
    reason: Annotated[str | None, typer.Option(help="Why (required with --force; kept in the audit log).")] = None,
    db: DbOption = None,
    evidence: EvidenceOption = None,
    models_dir: ModelsDirOption = None,
    by: ByOption = None,
) -> None:
    """Make a candidate the active version, the one `process` runs, if it is not worse than the active one.

    Both are measured on the frozen evaluation set; a candidate that scores more than the tolerance
    (STREETWATCH_PROMOTE_TOLERANCE, default 0.02) below the active version on any family, on any of the
    gate's scores (STREETWATCH_PROMOTE_SCORES, default mAP50 and recall), is refused (exit 4) unless
    --force --reason TEXT; the promotion, the comparison and the reason go into the audit log.
    """
    from streetwatch.datasets.registry import PromotionRefusedError
    from streetwatch.datasets.registry_types import ModelRef

    with open_registry(db, evidence, models_dir) as registry:
        classes = families_of(registry)
        try:
            activation, comparison = registry.promote(ModelRef.of(candidate), actor=actor(by), force=force,
                                                      reason=reason)
        except PromotionRefusedError as refused:
            if refused.comparison is not None:
                print_comparison(refused.comparison, classes)
            raise
    if comparison is not None:
        print_comparison(comparison, classes)
    forced = " (forced: the gate refused it)" if activation.forced else ""
    out().print(f"version {activation.version} is now the active version (was {activation.previous_version}){forced}",
                highlight=False)


def rollback(
    to: Annotated[str | None, typer.Option("--to", help="The version to go back to (default: the one the active "
                                                        "version was promoted over).")] = None,
    reason: Annotated[str | None, typer.Option(help="Why (kept in the audit log).")] = None,
    db: DbOption = None,
    models_dir: ModelsDirOption = None,
    by: ByOption = None,
) -> None:
    """Make an earlier active version active again, without measuring: for a model that misbehaves in service.

    Only a version that was active before can be rolled back to; rolling back twice walks back along the
    promotions (after 1 -> 2 -> 3, rollback goes to 2, then to 1).
    """
    from streetwatch.datasets.registry_types import ModelRef

    with open_registry(db, None, models_dir) as registry:
        activation = registry.rollback(ModelRef.of(to) if to else None, actor=actor(by), reason=reason)
    out().print(f"rolled back: version {activation.version} is the active version again "
                f"(was {activation.previous_version})", highlight=False)
