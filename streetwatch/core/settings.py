"""Settings for every streetwatch job, from defaults, environment (STREETWATCH_*) and flags.

Build them with ``get_settings()``: nothing is read at import time, and nothing after: the one
:class:`Settings` object is handed to ``create_app`` and to each command, and its sections
(``web``, ``workflow``, ``dispatch``, ``rules``, ``camera``) are read from the environment when it
is built, never again. Changing an environment variable later has no effect on a running app.

Environment variables: ``STREETWATCH_<NAME>`` for the top-level fields; the sections keep the
names they had before they were sections (``STREETWATCH_TILE_URL``, ``STREETWATCH_WORKFLOW_<NAME>``,
``STREETWATCH_DISPATCH_<NAME>``); ``STREETWATCH_<SECTION>__<NAME>`` works for every section too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from streetwatch.core.model_metrics import DEFAULT_GATE_SCORES
from streetwatch.core.resources import ASSETS_DIR
from streetwatch.core.rule_params import RuleParams, off_is_none
from streetwatch.core.vocab import ScoreName

MODELS_DIR = ASSETS_DIR
DEFAULT_TAXONOMY = MODELS_DIR / "taxonomy.yaml"
# The default model as PyTorch weights (training, GPU inference, exports) and as the ONNX export
# that `process` runs on the CPU by default (384x640 input: 16:9 footage without padding waste).
DEFAULT_WEIGHTS_PT = MODELS_DIR / "streetwatch-v1" / "streetwatch-v1.pt"
DEFAULT_MODEL = MODELS_DIR / "streetwatch-v1" / "streetwatch-v1-384x640-int8.onnx"
WORKFLOW_DIR = MODELS_DIR / "workflow"


def _evidence_location(value: object) -> object:
    """An ``s3://`` URL stays a string; anything else is a folder.

    A command's ``--evidence`` arrives as a Path, and ``Path("s3://bucket/p")`` is ``s3:/bucket/p``:
    that is read as the URL it was (no one keeps evidence in a folder named ``s3:``).
    """
    text = str(value) if isinstance(value, str | Path) else None
    if text is not None and text.startswith("s3:/"):
        return "s3://" + text.removeprefix("s3:/").lstrip("/")
    return Path(text) if text is not None else value


# Where evidence goes: a folder (Path) or an s3://bucket/prefix URL (str).
EvidenceLocation = Annotated[Path | str, BeforeValidator(_evidence_location)]


OptionalNumber = Annotated[float | None, BeforeValidator(off_is_none)]


class WebSettings(BaseSettings):
    """The review page and reports. Environment: ``STREETWATCH_TILE_URL``, ``STREETWATCH_TILE_ATTRIBUTION``,
    ``STREETWATCH_REPORT_FONT_PATH``."""

    model_config = SettingsConfigDict(env_prefix="STREETWATCH_", extra="ignore")

    tile_url: str | None = Field(None, description="Map tiles, e.g. https://tile.example.org/{z}/{x}/{y}.png; "
                                 "none: a plain grid.")
    tile_attribution: str = Field("", description="The tiles' attribution, shown on the map.")
    report_font_path: Path | None = Field(None, description="A TrueType font (.ttf/.ttc) with Chinese glyphs for "
                                          "the monthly report's PDF; none: Debian's fonts-wqy-zenhei.")


class WorkflowSettings(BaseSettings):
    """Where the workflow's config files are (environment: ``STREETWATCH_WORKFLOW_<NAME>``)."""

    model_config = SettingsConfigDict(env_prefix="STREETWATCH_WORKFLOW_", extra="forbid")

    deadlines_path: Path = Field(WORKFLOW_DIR / "deadlines.yaml", description="Time limits per event code "
                                 "(YAML); it lists the holiday calendars.")
    units_path: Path = Field(WORKFLOW_DIR / "units.yaml", description="Default responsible unit per family (YAML).")
    notices_path: Path = Field(WORKFLOW_DIR / "notices.yaml", description="Rectification notices (整改通知单): "
                               "issuing unit and legal basis per event code (YAML).")
    coverage_path: Path | None = Field(None, description="Patrol coverage: days without a pass after which a road "
                                       "(per road class) or a grid cell is stale (YAML like models/workflow/"
                                       "coverage.yaml); none: the defaults that file lists.")


class LabellingSettings(BaseSettings):
    """The labelling queue (``streetwatch.store.labelling_queue``). Environment: ``STREETWATCH_LABELLING_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="STREETWATCH_LABELLING_", extra="forbid")

    share: float = Field(0.1, ge=0, lt=1, description="The labelling items' share of what a video puts in the "
                         "queues (0.1: one labelling item per nine violations); 0 turns the labelling queue off.")
    min_per_video: int = Field(1, ge=0, le=100, description="At least this many labelling items from a video that "
                               "has low-confidence or weak-class detections.")
    max_confidence: float = Field(0.5, gt=0, le=1, description="Detections below this confidence are "
                                  "low-confidence candidates for labelling.")
    weak_map50: float = Field(0.5, ge=0, le=1, description="Classes whose mAP50 on the model card is below this "
                              "are the model's weak classes (their detections are labelling candidates).")


class DispatchSettings(BaseSettings):
    """How the dispatch worker retries and paces itself. Environment: ``STREETWATCH_DISPATCH_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="STREETWATCH_DISPATCH_", extra="forbid")

    destinations_path: Path | None = Field(None, description="YAML list of destinations "
                                           "(see streetwatch.casework.dispatch.config).")
    backoff_base_s: float = Field(2.0, gt=0, description="First retry waits up to this long (full jitter).")
    backoff_cap_s: float = Field(900.0, gt=0, description="No retry waits longer than this.")
    max_attempts: int = Field(10, ge=1, le=1000, description="Attempts before a delivery is a dead letter.")
    batch_size: int = Field(20, ge=1, le=1000, description="Deliveries one worker claims at a time.")
    poll_interval_s: float = Field(2.0, gt=0, description="Idle wait between looks for due deliveries.")
    lease_s: float = Field(300.0, gt=0, description="A claim older than this is abandoned and may be "
                           "taken over; must exceed batch_size × the slowest timeout.")
    public_base_url: str | None = Field(None, description="This API's public URL, for media_url in events.")

    @model_validator(mode="after")
    def _cap_not_below_base(self) -> DispatchSettings:
        if self.backoff_cap_s < self.backoff_base_s:
            raise ValueError(f"backoff_cap_s ({self.backoff_cap_s}) must be >= backoff_base_s "
                             f"({self.backoff_base_s})")
        return self


class CameraSettings(BaseModel):
    """How the dashcam sits in the car. Defaults suit a windscreen-mounted 1080p dashcam."""

    model_config = ConfigDict(extra="forbid")

    hfov_deg: float = Field(100.0, gt=10, lt=180, description="Horizontal field of view in degrees.")
    mount_height_m: float = Field(1.3, gt=0, lt=10, description="Lens height above the road.")
    pitch_deg: float = Field(5.0, ge=-30, le=60, description="Downward tilt of the optical axis.")
    yaw_offset_deg: float = Field(0.0, ge=-180, le=180, description="Camera yaw from the direction of travel.")
    max_range_m: float = Field(80.0, gt=0, description="Flat-ground ranges beyond this are not trusted.")
    fx_px: float | None = Field(None, gt=0, description="Calibrated focal length (px); overrides hfov_deg.")
    fy_px: float | None = Field(None, gt=0, description="Calibrated vertical focal length (px).")
    cx_px: float | None = Field(None, description="Calibrated principal point column (px).")
    cy_px: float | None = Field(None, description="Calibrated principal point row (px).")
    calibration_width: int | None = Field(None, gt=0, description="Frame width the calibration was made at.")
    calibration_height: int | None = Field(None, gt=0, description="Frame height the calibration was made at.")
    lever_forward_m: float = Field(0.0, description="Camera position ahead of the GPS antenna.")
    lever_right_m: float = Field(0.0, description="Camera position right of the GPS antenna.")
    lever_up_m: float = Field(0.0, description="Camera position above the GPS antenna.")


class Settings(BaseSettings):
    """Everything a job needs to know. Environment variables are ``STREETWATCH_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="STREETWATCH_", env_nested_delimiter="__", extra="forbid")

    db_url: str = Field("sqlite:///streetwatch.db", description="SQLAlchemy URL of the database.")
    evidence_dir: EvidenceLocation = Field(Path("evidence"), description="Where evidence images go: a folder, or "
                                           "s3://bucket/prefix for S3-compatible object storage.")
    s3_endpoint_url: str | None = Field(None, description="The S3 server's URL when it is not AWS (MinIO, Ceph, "
                                        "moto), for an s3:// evidence_dir; credentials come from the standard "
                                        "AWS variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY).")
    s3_region: str | None = Field(None, description="The S3 region (default: AWS_DEFAULT_REGION or the profile's).")
    model_path: Path = Field(DEFAULT_MODEL, description="Detector weights (.pt or .onnx). Unset, `process` runs the "
                             "model registry's active version, or the bundled model while the registry is empty.")
    model_label: str | None = Field(None, description="The detector's name stored with each video (videos.model_name); "
                                    "default: its weights file's stem (a registry version: name@vN).")
    models_dir: Path = Field(Path("var/models"), description="The model registry's files: one folder per version "
                             "(its rows are in the database).")
    promote_tolerance: float = Field(0.02, ge=0, le=1, description="`models promote` refuses a candidate that scores "
                                     "more than this below the active version on any family (absolute, e.g. 0.02 "
                                     "= 2 points of mAP50).")
    promote_scores: list[ScoreName] = Field(default_factory=lambda: list(DEFAULT_GATE_SCORES), min_length=1,
                                            description="The scores the promotion gate compares per family: "
                                            "map50, recall, precision.")
    taxonomy_path: Path = Field(DEFAULT_TAXONOMY, description="Class -> family -> event table.")
    device: str = Field("cpu", description="Torch device for the detector: cpu, cuda, cuda:0, ...")
    detector_actors: int = Field(0, ge=0, le=64, description="With --ray: shared detectors (Ray actors, a GPU each "
                                 "with --device cuda) that batch the frames of every video in flight; 0: each "
                                 "video's task runs its own detector (the better choice on CPUs).")
    sample_fps: float = Field(5.0, gt=0, le=120, description="Frames analysed per second of video.")
    imgsz: int = Field(640, ge=160, le=1920, description="Detector input size (longest side).")
    batch_size: int = Field(8, ge=1, le=256, description="Frames per detector call.")
    conf_threshold: float = Field(0.25, gt=0, lt=1, description="Minimum detection confidence.")
    skip_nonref_frames: bool = Field(True, description="Let the decoder drop non-reference frames when sampling "
                                     "at most half the frame rate (about half the decoding work on files with "
                                     "B-frames; an instant is then served a frame or two later).")
    decode_ahead: int = Field(16, ge=0, le=256, description="Frames decoded ahead in a thread of their own while "
                              "the detector runs (0: decode in the main thread).")
    decode_threads: int = Field(1, ge=0, le=64, description="FFmpeg's threads for the CPU decoder: 1 decodes in "
                                "one thread, the cheapest in CPU (frame threads cost 15-20 % more for the same "
                                "frames); 0 lets FFmpeg choose, faster for one video on many idle cores.")
    ocr: bool = Field(True, description="Read text on ad objects (phone numbers) and plates on parked vehicles, "
                      "and scan frames for banners and small ads.")
    ocr_scan_interval_s: float = Field(4.0, gt=0, description="Scan at most one frame per this much footage for "
                                       "banners and small ads (about 0.2 s of CPU per frame at 960 px).")
    ocr_scan_width: int = Field(960, ge=320, le=4096, description="Frames are scanned for banners and small ads at "
                                "most this wide (pixels); wider finds smaller text for more CPU.")
    ocr_scan_same_view: OptionalNumber = Field(10.0, ge=0, description="A frame due for the banner/small-ad scan is "
                                             "skipped while its view is the last scanned one (90th percentile of "
                                             "the grey differences of 96x54 thumbnails at most this; fixed "
                                             "cameras measure 1-7, moving ones 48 and up); a still view is "
                                             "scanned again after 60 s. None (or \"off\"): scan every interval.")
    min_track_frames: int = Field(2, ge=1, description="Tracks seen in fewer sampled frames are dropped.")
    gps_max_gap_s: float = Field(5.0, gt=0, description="Longer gaps between fixes mean 'no position'.")
    gps_offset_s: float | None = Field(None, description="Seconds from the first GPS record (usable or not) to the "
                                       "video's start, for separate GPS files; unset = assume 0 and flag "
                                       "'time unverified'.")
    gps_local_timezone: str = Field("+08:00", description="Zone of local wall-clock GPS times (SRT, dashcams).")
    gps_max_hdop: float = Field(5.0, gt=0, description="Fixes with a worse HDOP are dropped.")
    gps_min_satellites: int = Field(4, ge=0, description="Fixes with fewer satellites are dropped.")
    gps_max_speed_mps: float = Field(70.0, gt=0, description="Jumps implying a faster vehicle are dropped; "
                                     "nothing is placed across one that stays.")
    detector_backend: Literal["auto", "ultralytics", "onnx"] = Field(
        "auto", description="auto: ONNX Runtime for .onnx weights, Ultralytics otherwise.")
    claim_stale_after_s: float = Field(120.0, gt=0, description="A video claim whose heartbeat is older "
                                       "than this is abandoned: another run may take the video over.")
    db_busy_timeout_s: float = Field(30.0, gt=0, le=3600, description="How long a SQLite write waits for "
                                     "another connection's lock before it gives up with 'database is locked'.")
    audit_anchor_path: Path | None = Field(None, description="Where the audit log's head checkpoint is written "
                                           "on each append (default: beside a SQLite database; set it to "
                                           "anchor a PostgreSQL audit log). See streetwatch.store.audit_anchor.")
    audit_anchor_key: SecretStr | None = Field(None, description="Key that signs the audit head checkpoint "
                                               "(HMAC-SHA256); without it the checkpoint is only hashed.")
    zones_paths: list[Path] = Field(default_factory=list, description="GeoJSON zone files (see docs/rules.md).")
    permits_path: Path | None = Field(None, description="Registry of licensed signboards (CSV or GeoJSON).")
    rules: RuleParams = Field(default_factory=RuleParams, description="Rule parameters (see docs/rules.md).")
    case_radius_m: float = Field(10.0, gt=0, description="Sightings of one family this close are one case.")
    roads_path: Path | None = Field(None, description="The city's road network (GeoJSON LineStrings with id, name, "
                                    "road_class, road_chief, unit; see streetwatch.core.roads): each video's GPS track "
                                    "is matched to it for patrol coverage. Without one, coverage is per H3 cell only.")
    coverage_h3_resolution: int = Field(9, ge=5, le=12, description="H3 resolution of the coverage grid cells "
                                        "(9: edges of about 200 m; 10: about 76 m).")
    coverage_match_m: float = Field(20.0, gt=0, le=200, description="A GPS position this close to a road segment "
                                    "(and heading along it) is on it.")
    camera: CameraSettings = CameraSettings()
    auth_secret: SecretStr | None = Field(None, description="Key that signs login tokens (HS256), at least "
                                          "32 characters; `serve` refuses to start without one unless "
                                          "auth_dev_mode is set.")
    auth_token_minutes: int = Field(480, ge=1, le=60 * 24 * 30, description="Lifetime of a login token.")
    auth_dev_mode: bool = Field(False, description="Development only: without auth_secret, sign tokens with "
                                "a random key that dies with the process.")
    auth_max_failures_per_user: int = Field(10, ge=1, le=10_000, description="Failed sign-ins allowed for one "
                                            "username within auth_failure_window_s; more answer 429 (this process "
                                            "counts its own).")
    auth_max_failures_per_address: int = Field(20, ge=1, le=100_000, description="Failed sign-ins allowed from one "
                                               "client address within the window (behind a proxy, forward the "
                                               "client's address: see streetwatch.api.throttle).")
    auth_failure_window_s: float = Field(900.0, gt=0, le=86_400, description="The window failed sign-ins are "
                                         "counted in, seconds.")
    db_connect_timeout_s: float = Field(5.0, gt=0, le=300, description="The API gives up connecting to "
                                        "PostgreSQL after this (and on the ping of a pooled connection); it "
                                        "answers 503 with Retry-After.")
    db_statement_timeout_s: float = Field(30.0, gt=0, le=3600, description="PostgreSQL's statement_timeout "
                                          "for the API; a statement of a frozen server is cut a little later.")
    db_pool_timeout_s: float = Field(10.0, gt=0, le=300, description="How long an API request waits for a free "
                                     "database connection before it answers 503.")
    uploads_dir: Path = Field(Path("uploads"), description="Where POST /uploads puts the footage and GPS "
                              "sidecars cars send (point `streetwatch watch` at it, or at a depot folder "
                              "holding it).")
    upload_max_bytes: int = Field(8 * 1024**3, ge=1024, le=1024**4, description="POST /uploads answers 413 to a "
                                  "file larger than this (the API's other requests keep api_max_body_bytes).")
    api_max_body_bytes: int = Field(1024 * 1024, ge=1024, le=1024**3, description="The API answers 413 to a "
                                    "request body larger than this, before reading it (POST /uploads: "
                                    "upload_max_bytes).")
    # Sections with environment variables of their own (see the module docstring); each is read
    # once, when these settings are built.
    web: WebSettings = Field(default_factory=WebSettings, description="The review page.")
    workflow: WorkflowSettings = Field(default_factory=WorkflowSettings, description="Workflow config files.")
    dispatch: DispatchSettings = Field(default_factory=DispatchSettings, description="The dispatch worker.")
    labelling: LabellingSettings = Field(default_factory=LabellingSettings, description="The labelling queue.")


def get_settings(**overrides: object) -> Settings:
    """Return settings from the environment, with explicit overrides (e.g. CLI flags) on top."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]
