"""The ``streetwatch`` command line: one command per job, each with a teaching ``--help``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from streetwatch.cli import (
    backup_commands,
    bench_ray,
    coverage_commands,
    fleet_options,
    model_commands,
    notice_commands,
    privacy_commands,
    registry_commands,
    report_commands,
    status_commands,
)
from streetwatch.cli.audit_commands import audit_app
from streetwatch.cli.dataset_commands import dataset_app
from streetwatch.cli.dispatch_commands import dispatch_app
from streetwatch.cli.errors import streetwatch_typer
from streetwatch.cli.user_commands import users_app
from streetwatch.cli.zone_commands import zones_app

if TYPE_CHECKING:
    from streetwatch.core.settings import Settings
    from streetwatch.pipeline.outcomes import Outcome
    from streetwatch.pipeline.shadow import ShadowModel

os.environ.setdefault("YOLO_OFFLINE", "1")  # Ultralytics must never reach for the network

app = streetwatch_typer(
    name="streetwatch",
    help="Patrol-car dashcam footage in, geolocated city-management violations out.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = streetwatch_typer(help="Database maintenance.", no_args_is_help=True)
models_app = streetwatch_typer(help="Detector models: the registry (list, show, register, compare, promote, "
                                    "rollback) and weights (export, quantize, import-tflite).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(audit_app, name="audit")
app.add_typer(dispatch_app, name="dispatch")
app.add_typer(dataset_app, name="dataset")
app.add_typer(zones_app, name="zones")
app.add_typer(privacy_commands.privacy_app, name="privacy")
app.command("purge")(privacy_commands.purge)
app.command("backup")(backup_commands.backup)
app.command("restore")(backup_commands.restore)
app.command("train")(model_commands.train)
app.command("eval")(model_commands.evaluate)
app.command("notice")(notice_commands.notice)
app.command("coverage")(coverage_commands.coverage)
app.command("status")(status_commands.status)
app.command("bench-ray")(bench_ray.bench_ray)
app.add_typer(models_app, name="models")
app.command("report")(report_commands.report)
models_app.command("list")(registry_commands.list_versions)
models_app.command("show")(registry_commands.show)
models_app.command("register")(registry_commands.register)
models_app.command("compare")(registry_commands.compare)
models_app.command("promote")(registry_commands.promote)
models_app.command("rollback")(registry_commands.rollback)

console = Console(stderr=True, soft_wrap=True)
DbOption = Annotated[str | None, typer.Option("--db", help="Database URL (default: sqlite:///streetwatch.db).")]
EvidenceOption = Annotated[Path | None, typer.Option(
    "--evidence", help="Evidence folder, or s3://bucket/prefix (S3-compatible storage; STREETWATCH_S3_ENDPOINT_URL "
    "for a server that is not AWS) (default: ./evidence).")]


def _fail(message: str, code: int = 2) -> typer.Exit:
    console.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code)


def _settings(**overrides: object) -> Settings:
    """Settings from the environment and flags; a bad value is a usage error, not a traceback."""
    from pydantic import ValidationError

    from streetwatch.core.settings import get_settings

    try:
        return get_settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']} (got {e.get('input')!r})"
                             for e in exc.errors())
        raise _fail(f"invalid settings: {problems}") from None


@app.command()
def process(
    videos: Annotated[list[Path], typer.Argument(help="Video files (MP4, MOV, AVI, TS; H.264/H.265) and photos "
                                                      "(JPEG, HEIC, PNG; EXIF GPS position, direction and time).")],
    gps: Annotated[Path | None, typer.Option(help="GPS file (GPX, NMEA, CSV, SRT) or another video with GPS. "
                                                  "Default: a sidecar with the video's name (.gpx/.nmea/.csv/.srt) "
                                                  "or GPS embedded in the video (GoPro GPMF, subtitles, 70mai).")]
    = None,
    db: DbOption = None,
    evidence: EvidenceOption = None,
    model: Annotated[Path | None, typer.Option(help="Detector weights (default: the model registry's active "
                                                    "version; the bundled model while the registry is empty).")]
    = None,
    shadow_model: Annotated[str | None, typer.Option(
        help="Also run this candidate (a registered version, 3 or v3, or a .pt/.onnx file) on the same frames; "
             "its detections are stored apart and never file anything (see `models compare`).")] = None,
    models_dir: Annotated[Path | None, typer.Option(help="The model registry's files (default: var/models).")]
    = None,
    sample_fps: Annotated[float | None, typer.Option(help="Frames analysed per second of video [5].")] = None,
    gps_offset: Annotated[float | None, typer.Option(
        help="Seconds from the first GPS record (usable or not) to the start of the video (separate GPS "
             "files). Unset: 0, and the video is flagged 'time unverified'.")] = None,
    zones: Annotated[list[Path] | None, typer.Option(
        help="GeoJSON zone file (no-parking, no-vending, permitted vending, grid); repeatable. "
             "See docs/rules.md.")] = None,
    permits: Annotated[Path | None, typer.Option(help="Registry of licensed signboards (CSV or GeoJSON).")]
    = None,
    device: fleet_options.DeviceOption = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar per video.")] = True,
    ray: fleet_options.RayOption = None,
    ray_cpus: fleet_options.RayCpusOption = None,
    cpus_per_video: fleet_options.CpusPerVideoOption = 1,
    gpus_per_video: fleet_options.GpusPerVideoOption = None,
    detector_actors: fleet_options.DetectorActorsOption = None,
    metrics_port: fleet_options.MetricsPortOption = None,
    log_format: fleet_options.LogFormatOption = "text",
) -> None:
    """Find violations in patrol videos and store them, with evidence, in the database.

    Each video is fingerprinted (sha256): the same content is never processed twice. Bad
    files are reported and skipped, and so is a video the database stays locked for (nothing
    of it is written; run again). A file cut short is analysed as far as it goes and flagged
    truncated. Exit code: 0 when all is well; 1 if any file was rejected or failed; 4 if a
    video is held by a worker that stopped (killed, crashed): it is taken over once that claim
    goes stale (STREETWATCH_CLAIM_STALE_AFTER_S, 120 s), and the message says when.

    Photos (JPEG, HEIC, PNG) mix freely with videos: each is a one-frame item, placed by its EXIF
    GPS (else --gps at its EXIF time, else location unknown). One photo never shows a vehicle
    parked: see the README's "Photos".

    The detector is --model if given, else the model registry's active version (`models list`),
    else, while the registry is empty, the bundled model. Each video records which one ran.

    With --ray, each video is a Ray task on this machine (local) or a cluster (its address); see
    docs/scaling.md.

    Example: streetwatch process patrol/*.mp4 --gps patrol/route.gpx --db sqlite:///city.db
    """
    from streetwatch.cli.startup import import_pipeline

    import_pipeline()   # first, with the garbage collector paused
    from streetwatch.core.errors import EXIT_CONFLICT
    from streetwatch.pipeline.run import RunSummary
    from streetwatch.store.db import DatabaseError
    from streetwatch.vision.device import DeviceError

    fleet_options.setup_logging(log_format)

    missing = [str(v) for v in videos if not v.exists()]
    settings = _settings(db_url=db, evidence_dir=evidence, model_path=model, sample_fps=sample_fps,
                         gps_offset_s=gps_offset, device=device, zones_paths=zones or None,
                         permits_path=permits, models_dir=models_dir, detector_actors=detector_actors)
    for path in [*settings.zones_paths, *([settings.permits_path] if settings.permits_path else [])]:
        if not path.is_file():
            raise _fail(f"rules file not found: {path}")
    if gps is not None and not gps.is_file():
        raise _fail(f"GPS file not found: {gps}")
    shadow = None
    if present := [v for v in videos if v.exists()]:
        from streetwatch.datasets.registry import process_model
        from streetwatch.datasets.registry import shadow_model as resolve_shadow

        chosen = process_model(settings)
        settings = settings.model_copy(update={"model_path": chosen.path, "model_label": chosen.label})
        if shadow_model is not None:
            shadow = resolve_shadow(settings, shadow_model)
    if not settings.model_path.is_file():
        raise _fail(f"detector weights not found: {settings.model_path}")
    if shadow is not None and not shadow.path.is_file():
        raise _fail(f"shadow model weights not found: {shadow.path}")

    # Nothing to process: do not load the model or touch the database.
    from streetwatch.core.permits import PermitError
    from streetwatch.core.zones import ZoneError

    try:
        metrics = fleet_options.start_metrics(settings, metrics_port)
        summary = (fleet_options.run_videos(
            present, settings, gps, progress=progress, on_outcome=_report_outcome,
            shadow=_shadow_detector(settings, shadow), ray=ray, metrics=metrics, num_cpus=ray_cpus,
            cpus_per_video=cpus_per_video, gpus_per_video=gpus_per_video) if present else RunSummary())
    except (ZoneError, PermitError) as exc:
        raise _fail(f"rules configuration: {exc}") from None
    except DeviceError as exc:
        raise _fail(str(exc)) from None
    except DatabaseError as exc:  # before any video: the database cannot be migrated or opened
        raise _fail(f"database {settings.db_url}: {type(exc).__name__}: {getattr(exc, 'orig', None) or exc}",
                    1) from None
    for name in missing:
        console.print(f"[red]rejected[/] {name}: file not found")
    for note in summary.notes:
        console.print(f"[yellow]note[/] {note}")
    _print_summary(summary, missing, settings.db_url, settings.evidence_dir)
    raise typer.Exit(1 if summary.failed or missing else EXIT_CONFLICT if summary.held else 0)


def _report_outcome(outcome: object) -> None:
    """One line per video, as `process` and `watch` print them."""
    from streetwatch.pipeline.run import Failed, Held, Processed, Rejected, Skipped

    if isinstance(outcome, Processed):
        fams = ", ".join(f"{k} {v}" for k, v in sorted(outcome.violations_by_family.items())) or "none"
        console.print(f"[green]done[/] {outcome.path.name}: {outcome.frames} frames, {outcome.detections} "
                      f"detections, {outcome.observations} objects; violations: {fams} "
                      f"({outcome.seconds:.1f} s)")
        if outcome.truncated_note is not None:
            console.print(f"[yellow]truncated[/] {outcome.path.name}: {outcome.truncated_note}")
    elif isinstance(outcome, Skipped):
        console.print(f"[yellow]skipped[/] {outcome.path.name}: {outcome.message}")
    elif isinstance(outcome, Held):
        console.print(f"[red]held[/] {outcome.path.name}: {outcome.message}")
    elif isinstance(outcome, Rejected):
        console.print(f"[red]rejected[/] {outcome.path.name}: {outcome.message}")
    elif isinstance(outcome, Failed):
        console.print(f"[red]failed[/] {outcome.path.name}: {outcome.message}")


@app.command()
def watch(
    folder: Annotated[Path, typer.Argument(help="The depot folder cars offload into (watched recursively).")],
    db: DbOption = None,
    evidence: EvidenceOption = None,
    model: Annotated[Path | None, typer.Option(help="Detector weights (default: the bundled model).")] = None,
    sample_fps: Annotated[float | None, typer.Option(help="Frames analysed per second of video [5].")] = None,
    stable_s: Annotated[float, typer.Option(
        help="A video (and its GPS sidecar) is complete when unchanged this many seconds.")] = 30.0,
    poll_s: Annotated[float, typer.Option(help="Seconds between looks at the folder.")] = 10.0,
    state: Annotated[Path | None, typer.Option(
        help="The watcher's memory of handled files [FOLDER/.streetwatch/watch-state.json].")] = None,
    once: Annotated[bool, typer.Option(help="Look once, process what is complete, and exit.")] = False,
    device: fleet_options.DeviceOption = None,
    ray: fleet_options.RayOption = None,
    ray_cpus: fleet_options.RayCpusOption = None,
    cpus_per_video: fleet_options.CpusPerVideoOption = 1,
    gpus_per_video: fleet_options.GpusPerVideoOption = None,
    detector_actors: fleet_options.DetectorActorsOption = None,
    metrics_port: fleet_options.MetricsPortOption = None,
    log_format: fleet_options.LogFormatOption = "text",
) -> None:
    """Process videos as they arrive in a depot folder: each once, when its copy is complete.

    Videos still being copied (growing, freshly modified) are left alone; each complete one is
    processed as `streetwatch process` would (its GPS sidecar found by name). Rejected or failed
    files are reported once and not retried until they change; a restart does not redo what is
    done. Stop with Ctrl-C.

    Example: streetwatch watch /srv/depot --db postgresql+psycopg://... --evidence /srv/evidence
    """
    from streetwatch.cli.startup import import_pipeline

    import_pipeline()   # first, with the garbage collector paused
    from streetwatch.pipeline.run import VideoProcessor
    from streetwatch.pipeline.watch import DepotWatcher, WatchState, WatchStateError, outcome_kind
    from streetwatch.vision.device import DeviceError

    if not folder.is_dir():
        raise _fail(f"depot folder not found: {folder}")
    if stable_s < 0 or poll_s <= 0:
        raise _fail("--stable-s must be >= 0 and --poll-s > 0")
    from streetwatch.datasets.registry import process_model

    fleet_options.setup_logging(log_format)
    settings = _settings(db_url=db, evidence_dir=evidence, model_path=model, sample_fps=sample_fps, device=device,
                         detector_actors=detector_actors)
    chosen = process_model(settings)   # --model, else the registry's active version, else the bundled model
    settings = settings.model_copy(update={"model_path": chosen.path, "model_label": chosen.label})
    if not settings.model_path.is_file():
        raise _fail(f"detector weights not found: {settings.model_path}")
    try:
        memory = WatchState(state or folder / ".streetwatch" / "watch-state.json")
    except WatchStateError as exc:
        raise _fail(str(exc)) from None
    metrics = fleet_options.start_metrics(settings, metrics_port)
    if ray is not None:   # each poll's ready videos go to Ray together; the driver loads no model
        fleet = fleet_options.ray_fleet(settings, ray, metrics, num_cpus=ray_cpus, cpus_per_video=cpus_per_video,
                                        gpus_per_video=gpus_per_video, on_outcome=fleet_options.log_outcome)
        processor = None
        watcher = DepotWatcher(folder, lambda video: fleet.process([video])[0], memory, stable_s=stable_s,
                               on_outcome=lambda _video, outcome: _report_outcome(outcome),
                               process_batch=fleet_options.ray_batch(fleet, metrics))
    else:
        try:
            processor = VideoProcessor(settings, progress=False, on_detect=metrics.detected)
        except DeviceError as exc:
            raise _fail(str(exc)) from None

        def process_one(video: Path) -> Outcome:
            assert processor is not None
            metrics.queued()
            outcome = processor.process(video)
            metrics.outcome(outcome)
            fleet_options.log_outcome(outcome)
            return outcome

        watcher = DepotWatcher(folder, process_one, memory, stable_s=stable_s,
                               on_outcome=lambda _video, outcome: _report_outcome(outcome))
    console.print(f"watching {folder} (complete after {stable_s:g} s unchanged; state {memory.path})")
    try:
        if once:
            results = watcher.poll_once()
            bad = [o for _, o in results if outcome_kind(o) in ("rejected", "failed")]
            console.print(f"{len(results)} video(s) handled, {len(bad)} rejected or failed")
            raise typer.Exit(1 if bad else 0)
        watcher.run(poll_s)
    except KeyboardInterrupt:
        console.print("stopped")
    finally:
        if processor is not None:
            processor.close()


def _shadow_detector(settings: Settings, shadow: object) -> ShadowModel | None:
    """The shadow model as the run orchestrator takes it: a detector built like the active one, and its version."""
    from streetwatch.datasets.registry import ResolvedModel
    from streetwatch.pipeline.run import detector_config
    from streetwatch.pipeline.shadow import ShadowModel
    from streetwatch.vision.detector import build_detector

    if not isinstance(shadow, ResolvedModel):
        return None
    console.print(f"shadow model {shadow.label} ({shadow.path}): its detections are stored apart", highlight=False)
    config = detector_config(settings.model_copy(update={"model_path": shadow.path, "model_label": shadow.label}))
    return ShadowModel(build_detector(config), shadow.version)


def _print_summary(summary: object, missing: list[str], db_url: str, evidence_dir: Path | str) -> None:
    from streetwatch.pipeline.run import Failed, Held, Rejected, RunSummary, Skipped

    assert isinstance(summary, RunSummary)
    processed = summary.processed()
    families: dict[str, int] = {}
    for p in processed:
        for family, n in p.violations_by_family.items():
            families[family] = families.get(family, 0) + n
    table = Table(title="streetwatch process", show_header=False)
    table.add_row("videos processed", str(len(processed)))
    table.add_row("videos skipped", str(sum(isinstance(o, Skipped) for o in summary.outcomes)))
    if summary.held:
        table.add_row("videos held by a stopped worker", str(sum(isinstance(o, Held) for o in summary.outcomes)))
    table.add_row("videos rejected/failed",
                  str(sum(isinstance(o, Rejected | Failed) for o in summary.outcomes) + len(missing)))
    truncated = summary.truncated()
    if truncated:
        table.add_row("videos truncated (partly analysed)",
                      f"{len(truncated)}: {', '.join(p.path.name for p in truncated)}")
    table.add_row("frames analysed", str(sum(p.frames for p in processed)))
    table.add_row("detections", str(sum(p.detections for p in processed)))
    table.add_row("objects observed", str(sum(p.observations for p in processed)))
    for family in sorted(families):
        table.add_row(f"violations: {family}", str(families[family]))
    table.add_row("wall time", f"{summary.seconds:.1f} s")
    table.add_row("database", db_url)
    table.add_row("evidence", str(evidence_dir))
    Console().print(table)


@app.command()
def serve(
    db: DbOption = None,
    evidence: EvidenceOption = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Serve the review API (OpenAPI docs at /docs)."""
    import uvicorn

    from streetwatch.api.app import create_app
    from streetwatch.api.auth import AuthConfigError

    settings = _settings(db_url=db, evidence_dir=evidence)
    try:
        application = create_app(settings)
    except AuthConfigError as exc:
        raise _fail(f"{exc}\nSet STREETWATCH_AUTH_SECRET to a random string of 32+ characters, e.g.\n"
                    "  export STREETWATCH_AUTH_SECRET=$(python -c 'import secrets; print(secrets.token_urlsafe(48))')"
                    ) from None
    console.print(f"streetwatch API on http://{host}:{port}  (docs: http://{host}:{port}/docs)")
    uvicorn.run(application, host=host, port=port, log_level="info")


@db_app.command("upgrade")
def db_upgrade(db: DbOption = None) -> None:
    """Apply database migrations (process and serve do this too)."""
    from streetwatch.store.db import upgrade

    settings = _settings(db_url=db)
    upgrade(settings.db_url)
    console.print(f"database at {settings.db_url} is up to date")


@models_app.command("import-tflite")
def models_import_tflite(
    tflite: Annotated[Path, typer.Argument(help="An Ultralytics YOLOv8n TFLite export (int8 or float).")],
    out: Annotated[Path, typer.Argument(help="Where to write the PyTorch checkpoint (.pt).")],
    metadata: Annotated[Path | None, typer.Option(help="metadata.yaml with class names "
                                                       "(default: beside the TFLite file).")] = None,
    calibrate_on: Annotated[Path | None, typer.Option(
        help="Folder of street photos to measure BatchNorm statistics on (keeps eval output; makes "
             "train mode behave, so the checkpoint fine-tunes well).")] = None,
    calibrate_every: Annotated[int, typer.Option(help="Use every Nth photo of --calibrate-on.")] = 6,
) -> None:
    """Turn an Ultralytics YOLOv8n TFLite export into a PyTorch checkpoint to fine-tune from.

    Example: streetwatch models import-tflite ../shared/data/coco_yolov8n_tflite/yolov8n_int8.tflite base.pt
    """
    from streetwatch.vision.weights.tflite_import import TfliteImportError, import_tflite

    try:
        images = (sorted(calibrate_on.glob("*.jpg"))[::calibrate_every] if calibrate_on is not None else [])
        path = import_tflite(tflite, out, metadata_path=metadata, calibration_images=images)
    except (TfliteImportError, FileNotFoundError) as exc:
        raise _fail(str(exc)) from None
    console.print(f"wrote {path}")


@app.command()
def demo(
    workdir: Annotated[Path, typer.Option(help="Where the demo clip, GPS track, database and evidence go.")]
    = Path("streetwatch-demo"),
    seconds: Annotated[float, typer.Option(help="Length of each demo clip.")] = 5.0,
) -> None:
    """Build a short patrol clip with its GPX track, process it, and say how to look at the result.

    The clip pans and zooms over Ultralytics' bundled street photo (a bus and people) while
    the GPS track drives along a straight road, through the sample city rules that ship with
    streetwatch (a bus-stop no-parking zone, vending zones, grid cells: models/zones/). A second
    pass 40 minutes later finds the bus at the same spot: it is filed as overstaying.
    """
    from streetwatch.core.resources import ASSETS_DIR
    from streetwatch.datasets.demo import make_demo_patrols
    from streetwatch.pipeline.run import process_videos

    workdir.mkdir(parents=True, exist_ok=True)
    videos = make_demo_patrols(workdir, seconds=seconds)
    console.print(f"demo patrols {', '.join(str(v) for v in videos)} (40 minutes apart), each with its GPX track")
    db_url = f"sqlite:///{(workdir / 'streetwatch.db').resolve()}"
    settings = _settings(db_url=db_url, evidence_dir=workdir / "evidence",
                         zones_paths=[ASSETS_DIR / "zones" / "sample-zones.geojson"],
                         permits_path=ASSETS_DIR / "zones" / "sample-permits.csv")
    summary = process_videos(videos, settings)
    _print_summary(summary, [], settings.db_url, settings.evidence_dir)
    console.print(
        "\nLook at the result through the review API:\n"
        "  export STREETWATCH_AUTH_SECRET=$(python -c 'import secrets; print(secrets.token_urlsafe(48))')\n"
        f"  streetwatch users add reviewer1 --role reviewer --db {db_url}\n"
        f"  streetwatch serve --db {db_url} --evidence {workdir / 'evidence'}\n"
        "  then open http://127.0.0.1:8000/docs, sign in (Authorize), and GET /violations",
        soft_wrap=True)
    raise typer.Exit(1 if summary.failed else 0)


@models_app.command("export")
def models_export(
    weights: Annotated[Path, typer.Argument(help="Ultralytics checkpoint (.pt).")],
    out: Annotated[Path, typer.Argument(help="Output: a .onnx file, or an OpenVINO folder with --format openvino.")],
    format: Annotated[str, typer.Option("--format", help="onnx or openvino.")] = "onnx",
    height: Annotated[int, typer.Option(help="Input height (multiple of 32); 384 suits 16:9 footage.")] = 384,
    width: Annotated[int, typer.Option(help="Input width (multiple of 32).")] = 640,
    half: Annotated[bool, typer.Option(help="Store weights in fp16.")] = False,
) -> None:
    """Export a detector for CPU inference (ONNX Runtime, OpenVINO) at a rectangular input.

    Example: streetwatch models export models/streetwatch-v0/streetwatch-v0.pt var/streetwatch-v0.onnx
    Then: streetwatch process clip.mp4 --model var/streetwatch-v0.onnx
    """
    from streetwatch.vision.export import ExportError, export_onnx, export_openvino

    try:
        if format == "onnx":
            path = export_onnx(weights, out, imgsz=(height, width), half=half)
        elif format == "openvino":
            path = export_openvino(weights, out, imgsz=(height, width), half=half)
        else:
            raise _fail(f"unknown format '{format}' (known: onnx, openvino)")
    except (ExportError, FileNotFoundError, ValueError) as exc:
        raise _fail(str(exc)) from None
    console.print(f"wrote {path}")


@models_app.command("quantize")
def models_quantize(
    model: Annotated[Path, typer.Argument(help="A float ONNX detector (from `streetwatch models export`).")],
    out: Annotated[Path, typer.Argument(help="The int8 .onnx file to write.")],
    calibrate_on: Annotated[list[Path], typer.Option(
        help="Folder of images like the footage (searched recursively); repeat for more folders.")],
    images: Annotated[int, typer.Option(help="Calibration images to use (a seeded random pick).")] = 160,
) -> None:
    """Quantize an ONNX detector to int8 for ONNX Runtime on the CPU (about 2x faster on AVX-512 VNNI).

    The activations' ranges are measured on the calibration images, so give it images like
    the footage it will see (a training split is right; never the validation split).

    Example: streetwatch models quantize models/streetwatch-v1/streetwatch-v1-384x640.onnx \
        var/v1-int8.onnx --calibrate-on var/datasets/streetwatch-v1/images/train
    """
    from streetwatch.vision.quantize import QuantizeError, calibration_images, quantize_onnx

    if not out.suffix.lower() == ".onnx":
        raise _fail(f"the quantized model must be a .onnx file, got {out}")
    missing = [str(folder) for folder in calibrate_on if not folder.is_dir()]
    if missing:
        raise _fail(f"calibration folder(s) not found: {', '.join(missing)}")
    try:
        picked = calibration_images(calibrate_on, limit=images)
        console.print(f"calibrating on {len(picked)} images ...")
        path = quantize_onnx(model, out, picked)
    except (QuantizeError, FileNotFoundError) as exc:
        raise _fail(str(exc)) from None
    console.print(f"wrote {path}")


@app.command()
def simulate(
    seed: Annotated[int, typer.Option(help="Random seed of the simulated patrols.")] = 7,
    passes: Annotated[int | None, typer.Option(help="Patrol passes over the route.")] = None,
    traffic: Annotated[bool, typer.Option(help="Also simulate moving traffic beside parked cars: "
                                          "motion states and the camera's self-calibration.")] = True,
) -> None:
    """Score geolocation, case dedup and motion states on simulated patrols with known truth.

    Prints position errors (median, 90th percentile) for single-view and multi-view
    geolocation, and dedup duplicates / wrong merges; with --traffic (default) also the
    confusion matrix of motion states (parked, moving, stopped in traffic) of simulated traffic
    and the self-calibration's pitch and height errors. Exits 1 if a geolocation goal is missed
    or more than 5 % of moving vehicles would be filed.
    """
    import dataclasses

    from streetwatch.datasets.simulated_traffic import TrafficConfig, format_traffic_report, run_traffic
    from streetwatch.datasets.simulation import SimulationConfig, format_report, run_simulation

    config = SimulationConfig(seed=seed)
    if passes is not None:
        config = dataclasses.replace(config, passes=passes)
    report = run_simulation(config)
    print(format_report(report))
    ok = report.passed
    if traffic:
        moving = run_traffic(TrafficConfig(seed=seed))
        print()
        print(format_traffic_report(moving))
        ok = ok and moving.moving_filed_pct <= 5.0
    raise typer.Exit(0 if ok else 1)


@app.command()
def bench(
    model: Annotated[Path | None, typer.Option(
        help="Our detector weights, .onnx or .pt (default: the ONNX export `process` runs).")] = None,
    seconds: Annotated[float | None, typer.Option(
        min=1.0, help="Length of the generated 1080p30 clip (default 60; 10 with --quick).")] = None,
    rates: Annotated[str | None, typer.Option(
        help="Sampling rates to time end to end, comma-separated (default 1,2,5,10; --fps with --quick).")] = None,
    compare: Annotated[bool, typer.Option(
        help="Also time Ultralytics' `yolo track` against `streetwatch process` on the clip.")] = False,
    pairs: Annotated[int | None, typer.Option(
        min=1, help="Alternating (yolo, streetwatch) pairs for --compare (default 3; 1 with --quick).")] = None,
    fps: Annotated[float, typer.Option(
        min=0.1, help="Sampling rate of the comparison (yolo's vid_stride = clip fps / this, rounded).")] = 5.0,
    yolo_weights: Annotated[Path | None, typer.Option(
        help="PyTorch weights for `yolo track` (default: the .pt beside --model).")] = None,
    clip: Annotated[Path | None, typer.Option(
        help="Bench on this video instead of generating one (--seconds is then ignored).")] = None,
    quick: Annotated[bool, typer.Option(
        help="A short run for tests and a first look: 10 s clip, 1 pair, end to end at --fps only.")] = False,
    workdir: Annotated[Path, typer.Option(help="Where the clip and scratch databases go.")]
    = Path("var/bench"),
    device: fleet_options.DeviceOption = None,
) -> None:
    """Measure start-up, decode, inference and end-to-end speed, optionally against `yolo track`.

    Commands (`process`, `yolo track`, start-up) run as child processes: wall time, CPU time
    (user + system) and peak memory are theirs alone. Prints Markdown for docs/benchmarks.md;
    progress goes to stderr.

    Example: streetwatch bench --compare --pairs 3 --workdir var/bench
    """
    import time

    from streetwatch.cli.bench import bench_plan, parse_rates, run_bench
    from streetwatch.core.settings import DEFAULT_MODEL

    given = {"seconds": seconds, "rates": parse_rates(rates) if rates is not None else None, "pairs": pairs,
             "clip": clip, "yolo_weights": yolo_weights, "device": device}
    previous_device = os.environ.get("STREETWATCH_DEVICE")
    plan = bench_plan(quick=quick, model=model or DEFAULT_MODEL, workdir=workdir, compare=compare, fps=fps,
                      **{name: value for name, value in given.items() if value is not None})
    started = time.perf_counter()

    def log(message: str) -> None:
        console.print(f"[{time.perf_counter() - started:6.1f} s] {message}", markup=False, highlight=False)

    from streetwatch.vision.device import DeviceError, plan_device

    if device is not None:   # the timed `process` children run there too (restored below: tests run in-process)
        os.environ["STREETWATCH_DEVICE"] = device
    try:   # an unusable --device fails before the clip is made
        plan_device(plan.device, plan.model, runtime="onnx" if plan.model.suffix == ".onnx" else "torch")
        report = run_bench(plan, log=log)
    except DeviceError as exc:
        raise _fail(str(exc)) from None
    finally:
        if previous_device is None:
            os.environ.pop("STREETWATCH_DEVICE", None)
        else:
            os.environ["STREETWATCH_DEVICE"] = previous_device
    print(report.markdown())


if __name__ == "__main__":  # pragma: no cover - `python -m streetwatch.cli.main`; installed, the entry point is app
    app(prog_name="streetwatch")
