"""The run orchestrator: videos and GPS in, observations and violations in the database out.

For each video: probe and fingerprint it, claim it in the database (so the same content
is never processed twice, even concurrently), decode sampled frames, detect and track,
turn tracks into geolocated observations, judge them, and commit everything for the video
in one transaction. One bad file never stops the batch: outcomes are values.

Neither does the database: a lock held by another connection past the busy timeout
(``db_busy_timeout_s``) fails that video with a clear message, with nothing of its results
written, and the batch goes on; its claim is released (marked failed) as soon as the database
lets it, at the latest at the end of the batch, so a re-run takes it up. A video claimed by a
worker that stopped (killed, crashed) is reported as held by a stale worker, with the time its
claim goes stale and any run takes it over (``Held``): the run does not pass over it in silence.
A file cut short (a faststart MP4 copied halfway) is analysed as far as it goes and flagged
truncated, with how much was analysed.
"""

from __future__ import annotations

import logging
import math
import os
import secrets
import socket
import time
from collections import Counter
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import closing, nullcontext
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from tqdm import tqdm

from streetwatch.core.geo import LocalPlane
from streetwatch.core.permits import PermitRegistry, load_permits
from streetwatch.core.roads import RoadNetwork, load_road_network
from streetwatch.core.settings import Settings
from streetwatch.core.taxonomy import Taxonomy, load_taxonomy
from streetwatch.core.types import (
    Location,
    LocationStatus,
    Motion,
    MotionState,
    Observation,
    Pose,
    TrackPoint,
    Violation,
)
from streetwatch.core.vocab import MediaKind
from streetwatch.core.zones import ZoneIndex, load_zones
from streetwatch.pipeline.ad_board import is_board, judge_boards
from streetwatch.pipeline.ad_scan import AdTextScanner, ad_text_observations
from streetwatch.pipeline.bin_fill import judge_bins
from streetwatch.pipeline.coverage import video_passes
from streetwatch.pipeline.frames import DecodeStats, decode_ahead, iter_frames
from streetwatch.pipeline.geolocate import locate_object
from streetwatch.pipeline.gps.errors import GpsFormatError
from streetwatch.pipeline.gps.source import GpsOptions, VideoGps, load_video_gps
from streetwatch.pipeline.gps.timing import parse_timezone
from streetwatch.pipeline.gps.track import GpsTrack
from streetwatch.pipeline.ingest import IngestError, VideoInfo, probe_video
from streetwatch.pipeline.labelling import labelling_policy
from streetwatch.pipeline.observe import Locator, ObservationBuilder
from streetwatch.pipeline.outcomes import (
    Failed,
    Held,
    Outcome,
    Processed,
    Rejected,
    RunSummary,
    Skipped,
    footage_note,
    worker_is_gone,
)
from streetwatch.pipeline.photo_ingest import PhotoInfo, is_photo, probe_photo
from streetwatch.pipeline.photo_run import analyse_photo, place_photo
from streetwatch.pipeline.read_text import TextStage
from streetwatch.pipeline.resighting import merge_resightings
from streetwatch.pipeline.rules import RuleContext, default_rules, evaluate_rules
from streetwatch.pipeline.shadow import ShadowModel, ShadowRecorder
from streetwatch.pipeline.triangulate import class_size, locate_track
from streetwatch.store import writes
from streetwatch.store.db import DatabaseError, is_lock_timeout, make_engine, make_session_factory, upgrade
from streetwatch.store.evidence_backends import evidence_store_for
from streetwatch.store.history import DbSightingHistory
from streetwatch.vision.calibration import SelfCalibration, choose_camera
from streetwatch.vision.detections import Detections
from streetwatch.vision.detector import Detector, OnnxConfig, UltralyticsConfig, build_detector
from streetwatch.vision.device import DevicePlan, FrameDecoder, plan_device
from streetwatch.vision.egomotion import BackgroundFlows
from streetwatch.vision.geometry import CameraModel, median_lateral_m
from streetwatch.vision.motion_meter import MotionMeter
from streetwatch.vision.motion_state import GpsEvidence, near_corner_box
from streetwatch.vision.ocr import TextReader
from streetwatch.vision.tracking import MultiObjectTracker
from streetwatch.vision.types import Frame

log = logging.getLogger(__name__)

HEARTBEAT_EVERY_S = 10.0
# Beat several times per staleness window, so a live worker never looks abandoned.
HEARTBEATS_PER_STALE_WINDOW = 4
# A claim whose heartbeat is this many beats late belongs to a worker that has stopped.
OVERDUE_BEATS = 3


def batched(frames: Iterator[Frame], size: int) -> Iterator[list[Frame]]:
    batch: list[Frame] = []
    for frame in frames:
        batch.append(frame)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def device_plan(settings: Settings) -> tuple[Literal["onnx", "ultralytics"], DevicePlan]:
    """The detector backend for the settings (ONNX Runtime for ``.onnx`` weights unless told otherwise)
    and the device ``settings.device`` resolves to (:func:`streetwatch.vision.device.plan_device`).

    Raises:
        DeviceError: The device is unknown, or CUDA was asked for and cannot be used here.
    """
    backend = settings.detector_backend
    if backend == "auto":
        backend = "onnx" if settings.model_path.suffix.lower() == ".onnx" else "ultralytics"
    # A batch size the user set is kept; otherwise the device's own (8 on the CPU, 32 on CUDA).
    chosen_batch = settings.batch_size if "batch_size" in settings.model_fields_set else None
    plan = plan_device(settings.device, settings.model_path, runtime="onnx" if backend == "onnx" else "torch",
                       batch_size=chosen_batch)
    return backend, plan


def nvdec_device_of(plan: DevicePlan) -> int | None:
    """The CUDA device whose NVDEC decodes the footage under ``plan``, or None for the CPU."""
    return plan.device_id if plan.decoder is FrameDecoder.NVDEC else None


def detector_config(settings: Settings) -> UltralyticsConfig | OnnxConfig:
    """The detector for the settings, on the device they resolve to (:func:`device_plan`).

    Raises:
        DeviceError: The device is unknown, or CUDA was asked for and cannot be used here.
    """
    return planned_detector_config(settings, *device_plan(settings))


def planned_detector_config(settings: Settings, backend: Literal["onnx", "ultralytics"], plan: DevicePlan
                            ) -> UltralyticsConfig | OnnxConfig:
    """The detector for the settings with the backend and device plan :func:`device_plan` gave."""
    if backend == "onnx":
        return OnnxConfig(weights=plan.weights, name=settings.model_label, conf=settings.conf_threshold,
                          batch_size=plan.batch_size, providers=plan.onnx_providers, device_id=plan.device_id)
    return UltralyticsConfig(weights=settings.model_path, name=settings.model_label, device=plan.torch_device,
                             imgsz=settings.imgsz, conf=settings.conf_threshold, batch_size=plan.batch_size,
                             half=plan.half)


# Vehicles move by themselves: their motion state decides whether they can be parking items.
MOVABLE_FAMILY = "parking"
# Per-sighting ground positions from GPS are trusted as motion evidence only this close.
GPS_MOTION_MAX_RANGE_M = 30.0
# The self-calibration is re-estimated every this many sampled frames (for the motion judge's ranging).
CALIBRATE_EVERY_FRAMES = 50
# The camera motion given to a tracker without tracks (nothing to move: the flow is not computed).
NO_CAMERA_MOTION = np.eye(2, 3)

class VideoProcessor:
    """Processes videos one at a time with one detector, database and evidence folder."""

    def __init__(self, settings: Settings, detector: Detector | None = None, *, progress: bool = True,
                 worker: str | None = None, shadow: ShadowModel | None = None,
                 on_detect: Callable[[int, float], None] | None = None, nvdec_device: int | None = None) -> None:
        self.settings = settings
        self.on_detect = on_detect  # told each detector call's frames and seconds (metrics)
        self.shadow = shadow  # a candidate run on the same frames, its detections stored apart
        self.progress = progress
        # The random part keeps two processors in one process (threads, tests) distinct claimants.
        self.worker = worker or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self.heartbeat_every_s = min(HEARTBEAT_EVERY_S,
                                     settings.claim_stale_after_s / HEARTBEATS_PER_STALE_WINDOW)
        self.taxonomy: Taxonomy = load_taxonomy(settings.taxonomy_path)
        # Frames per detector call: the device's batch (32 on CUDA) unless a detector was handed in.
        self.batch_size = settings.batch_size
        # NVDEC decodes when the device plan says so (CUDA, and PyAV's FFmpeg can); with a detector handed
        # in, where the caller says (``nvdec_device``; the fleet's shared detector actors: the CPU).
        self.nvdec_device = nvdec_device
        if detector is None:
            backend, plan = device_plan(settings)
            config = planned_detector_config(settings, backend, plan)
            detector, self.batch_size = build_detector(config), config.batch_size
            self.nvdec_device = nvdec_device_of(plan)
        self.detector = detector
        self.gps_options = GpsOptions(
            tz=parse_timezone(settings.gps_local_timezone), configured_offset_s=settings.gps_offset_s,
            max_gap_s=settings.gps_max_gap_s, max_hdop=settings.gps_max_hdop,
            min_satellites=settings.gps_min_satellites, max_speed_mps=settings.gps_max_speed_mps)
        self.camera = CameraModel(**settings.camera.model_dump())
        # Camera values the user set are always used; the others may be estimated from each video.
        self.camera_explicit = frozenset(settings.camera.model_fields_set)
        self._video_camera = self.camera   # the camera the current video is located with so far
        self._camera_varied = False        # whether any object of the video was placed with another camera
        self._frames_seen = 0
        self.rules = default_rules(self.taxonomy)
        self.read_text = TextStage(self.taxonomy) if settings.ocr else None
        # Whole frames are read at their own size (crops are enlarged for small text; frames need not be).
        self.scan_reader = TextReader(threads=1, det_max_side=settings.ocr_scan_width)
        self.zones: ZoneIndex | None = (load_zones(settings.zones_paths, settings.rules.timezone)
                                        if settings.zones_paths else None)
        self.permits: PermitRegistry | None = (load_permits(settings.permits_path, self.taxonomy)
                                               if settings.permits_path else None)
        self.evidence = evidence_store_for(settings)  # a folder or s3://bucket/prefix
        self.labelling = labelling_policy(settings)  # what the labelling queue takes from each video
        self.roads: RoadNetwork | None = (load_road_network(settings.roads_path, match_m=settings.coverage_match_m)
                                          if settings.roads_path else None)
        upgrade(settings.db_url)
        self.engine = make_engine(settings.db_url, busy_timeout_s=settings.db_busy_timeout_s)
        self.sessions = make_session_factory(self.engine)
        self._unreleased: list[tuple[int, str]] = []   # claims not yet marked failed: the database was locked
        # Only classes the taxonomy knows are tracked; the rest of what a model sees is ignored.
        # Model class id -> taxonomy class name, e.g. COCO's "dining table" -> "dining_table".
        self.class_names: dict[int, str] = {
            i: spec.name for i, name in self.detector.names.items() if (spec := self.taxonomy.lookup(name))}
        self._frame_size = (0, 0)
        self.movable = frozenset(s.name for s in self.taxonomy.classes.values() if s.family == MOVABLE_FAMILY)

    def close(self) -> None:
        self.engine.dispose()

    def process(self, path: Path, gps_path: Path | None = None) -> Outcome:
        """Process one footage file, a video or a photo (``photo_ingest.is_photo``); never raises for a bad one."""
        started = time.monotonic()
        prepared = self._prepare_photo(path, gps_path) if is_photo(path) else self._prepare_video(path, gps_path)
        if isinstance(prepared, Rejected):
            return prepared
        meta, analyse = prepared
        try:
            claim = writes.claim_video(self.sessions, meta, worker=self.worker,
                                       stale_after_s=self.settings.claim_stale_after_s)
        except DatabaseError as exc:
            return Failed(path, f"{self._database_trouble(exc, 'claiming it')}; nothing was written for this "
                                "video: run again once the database is free")
        if isinstance(claim, writes.AlreadyProcessed):
            return Skipped(path, claim.video_id, f"already processed (video #{claim.video_id})")
        if isinstance(claim, writes.InProgressElsewhere):
            return self._held_elsewhere(path, claim)
        try:
            results = analyse(claim.video_id)
            writes.commit_video_results(self.sessions, claim.video_id, self.worker, results, self.evidence,
                                        case_radius_m=self.settings.case_radius_m, labelling=self.labelling)
        except Exception as exc:
            if isinstance(exc, DatabaseError):
                message = (f"{self._database_trouble(exc, 'storing its results')}; nothing of its results was "
                           "written (they are stored in one transaction): run again once the database is free")
            else:
                message = f"{type(exc).__name__}: {exc}"
            if not self._release(claim.video_id, message):
                message += ("; its claim could not be marked failed yet (the database is still locked): "
                            "tried again at the end of the batch")
            return Failed(path, message)
        families = Counter(v.family for _, v in results.items if v is not None)
        return Processed(path, claim.video_id, results.frames_sampled, results.detections, len(results.items),
                         dict(families), time.monotonic() - started, resumed=claim.resumed,
                         truncated_note=results.decode_note if results.truncated else None)

    def _prepare_video(self, path: Path, gps_path: Path | None
                       ) -> tuple[writes.VideoMeta, Callable[[int], writes.VideoResults]] | Rejected:
        """A video's record and its analysis, or why the file or its GPS cannot be used."""
        probed = probe_video(path)
        if isinstance(probed, IngestError):
            return Rejected(path, probed.reason, probed.message)
        info: VideoInfo = probed
        try:
            gps = load_video_gps(path, gps_path, self.gps_options)
        except (GpsFormatError, OSError) as exc:
            return Rejected(path, "bad_gps", f"GPS: {exc}")
        meta = writes.VideoMeta(
            sha256=info.sha256, filename=path.name, size_bytes=info.size_bytes, container=info.container,
            codec=info.codec, width=info.width, height=info.height, rotation=info.rotation, duration_s=info.duration_s)
        return meta, lambda video_id: self._analyse(path, info, video_id, gps)

    def _prepare_photo(self, path: Path, gps_path: Path | None
                       ) -> tuple[writes.VideoMeta, Callable[[int], writes.VideoResults]] | Rejected:
        """A photo's record (a one-frame item) and its analysis, or why the file or its GPS cannot be used."""
        probed = probe_photo(path, self.gps_options.tz)
        if isinstance(probed, IngestError):
            return Rejected(path, probed.reason, probed.message)
        photo: PhotoInfo = probed
        try:
            place = place_photo(photo, gps_path, self.gps_options)
        except (GpsFormatError, OSError) as exc:
            return Rejected(path, "bad_gps", f"GPS: {exc}")
        meta = writes.VideoMeta(
            sha256=photo.sha256, filename=path.name, size_bytes=photo.size_bytes, container=photo.format,
            codec=photo.format, width=photo.width, height=photo.height, rotation=photo.rotation, duration_s=0.0,
            media=MediaKind.PHOTO)
        return meta, lambda _video_id: analyse_photo(self, photo, place)

    def _database_trouble(self, error: DatabaseError, doing: str) -> str:
        """A database error that stopped a video, in words (a lock past the busy timeout said as such)."""
        if is_lock_timeout(error):
            return (f"the database stayed locked by another connection for longer than the busy timeout "
                    f"({self.settings.db_busy_timeout_s:g} s, STREETWATCH_DB_BUSY_TIMEOUT_S) while {doing}")
        return f"database error while {doing}: {type(error).__name__}: {getattr(error, 'orig', None) or error}"

    def _release(self, video_id: int, error: str) -> bool:
        """Mark the video failed (its claim released for a re-run); False when the database refused for now."""
        try:
            writes.mark_failed(self.sessions, video_id, self.worker, error)
        except DatabaseError as exc:
            log.warning("video #%d: could not mark it failed yet: %s", video_id, exc)
            self._unreleased.append((video_id, error))
            return False
        return True

    def release_pending(self) -> list[str]:
        """Try again to mark failed the videos whose claims a locked database kept; returns what happened."""
        notes = []
        pending, self._unreleased = self._unreleased, []
        for video_id, error in pending:
            try:
                released = writes.mark_failed(self.sessions, video_id, self.worker, error)
            except DatabaseError as exc:
                trouble = self._database_trouble(exc, "releasing it")
                notes.append(f"video #{video_id} could not be marked failed ({trouble}): its claim goes stale "
                             f"{self.settings.claim_stale_after_s:g} s after its last heartbeat "
                             "(claim_stale_after_s), and any run then takes it over")
                continue
            if released:
                notes.append(f"video #{video_id} marked failed at the end of the batch: a re-run takes it up")
        return notes

    def _held_elsewhere(self, path: Path, claim: writes.InProgressElsewhere) -> Skipped | Held:
        """Skipped while a live worker holds the video; Held, with when it is taken over, if that worker stopped."""
        now = datetime.now(UTC)
        stale_at = claim.stale_at
        when = ("when its claim goes stale" if stale_at is None else
                f"at {stale_at:%Y-%m-%d %H:%M:%S} UTC (in {max(0.0, (stale_at - now).total_seconds()):.0f} s; "
                f"claim_stale_after_s = {self.settings.claim_stale_after_s:g})")
        age = None if claim.heartbeat_at is None else max(0.0, (now - claim.heartbeat_at).total_seconds())
        gone = worker_is_gone(claim.worker)
        if gone is not None or (age is not None and age > OVERDUE_BEATS * self.heartbeat_every_s):
            why = gone or (f"no heartbeat for {age:.0f} s; a live worker beats every {self.heartbeat_every_s:g} s")
            return Held(path, claim.video_id, f"held by a stale worker {claim.worker} ({why}): not processed now; "
                                              f"it will be taken over {when}: run again then "
                                              f"(video #{claim.video_id})", stale_at)
        beat = "" if age is None else f"; last heartbeat {age:.0f} s ago"
        return Skipped(path, claim.video_id, f"already being processed by {claim.worker} (video #{claim.video_id})"
                                             f"{beat}; if that worker stops, a run takes it over {when}",
                       in_progress=True)

    def _analyse(self, path: Path, info: VideoInfo, video_id: int, gps: VideoGps) -> writes.VideoResults:
        track = gps.track
        start_utc = gps.alignment.start_utc if gps.alignment is not None else None
        tracker = MultiObjectTracker(self.settings.sample_fps)
        calibration = SelfCalibration()
        self._video_camera, self._camera_varied, self._frames_seen = self.camera, False, 0
        meter: MotionMeter[int] = MotionMeter(on_focus=calibration.add_focus)
        flows = BackgroundFlows(meter.ego_config)
        builder = ObservationBuilder(self._locator(track, start_utc), min_frames=self.settings.min_track_frames,
                                     judge_motion=self._motion_judge(meter, track, start_utc))
        observations: list[Observation] = []
        frames_sampled = detections_total = 0
        last_beat = time.monotonic()
        bar = tqdm(total=round(info.duration_s, 1), unit="s", desc=path.name[:30], disable=not self.progress,
                   leave=False, bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.1f}/{total:.1f} s video "
                                           "[{elapsed}<{remaining}]")
        decoded = DecodeStats()
        frames: Generator[Frame, None, None] = iter_frames(
            path, info.sha256, sample_fps=self.settings.sample_fps, skip_nonref=self.settings.skip_nonref_frames,
            stats=decoded, nvdec_device=self.nvdec_device, decode_threads=self.settings.decode_threads)
        if self.settings.decode_ahead:
            frames = decode_ahead(frames, self.settings.decode_ahead)
        # The banner/small-ad scan reads in a thread of its own, overlapping the detector.
        scanner = (AdTextScanner(self.scan_reader, interval_s=self.settings.ocr_scan_interval_s,
                                 max_width=self.settings.ocr_scan_width, background=True,
                                 same_view_diff=self.settings.ocr_scan_same_view)
                   if self.read_text is not None else None)
        shadow = (ShadowRecorder(self.shadow, self.taxonomy, self.class_names, self.detector.model_name)
                  if self.shadow is not None else None)
        # Closing stops the decoding thread and the OCR thread, also when anything below raises.
        with closing(frames), closing(scanner) if scanner is not None else nullcontext():
            for batch in batched(frames, self.batch_size):
                detect_started = time.perf_counter()
                found = self.detector.detect([f.image for f in batch])
                if self.on_detect is not None:
                    self.on_detect(len(batch), time.perf_counter() - detect_started)
                if shadow is not None:
                    shadow.add_batch(batch, found)
                for frame, detections in zip(batch, found, strict=True):
                    if scanner is not None:
                        scanner.offer(frame)   # banners and small ads from the OCR's own text regions
                    detections = self._taxonomy_only(detections)
                    detections_total += len(detections)
                    boxes = as_boxes(detections.xyxy)
                    # The background flow from the previous frame, computed at most once for the tracker's
                    # camera-motion compensation and the motion meter (only when one of them needs it).
                    background = flows.add(frame.image, boxes)
                    tracked = tracker.update(detections, frame.image, camera_motion=(
                        background.camera_affine() if tracker.has_tracks else NO_CAMERA_MOTION))
                    meter.update(frame.pts_s, frame.image, self._movable_boxes(tracked), boxes, background=background)
                    self._frame_size = (frame.width, frame.height)
                    self._calibrate(calibration, tracked, frame)
                    observations.extend(builder.add(frame, tracked))
                frames_sampled += len(batch)
                bar.update(max(0.0, min(batch[-1].pts_s, info.duration_s) - bar.n))
                if time.monotonic() - last_beat > self.heartbeat_every_s:
                    if not self._beat(video_id):
                        raise RuntimeError("another worker took this video over; stopping")
                    last_beat = time.monotonic()
        observations.extend(builder.finish_all())
        # a still object the tracker lost and found again in the same view: one observation, not two
        observations = merge_resightings(observations, self._moves_by_itself)
        if scanner is not None:
            observations.extend(ad_text_observations(scanner.sightings(), self._locator(track, start_utc)))
        bar.close()
        camera = choose_camera(self.camera, self.camera_explicit, calibration.estimate(self.camera, *self._frame_size))
        if camera.camera != self.camera or self._camera_varied:   # all placed with the video's final camera
            observations = [self._relocated(o, camera.camera, track, start_utc) for o in observations]
        # signs standing on the pavement: 落地广告, placed on the ground as such
        observations = [self._relocated(o, camera.camera, track, start_utc) if is_board(o) else o
                        for o in judge_boards(observations, camera.camera, *self._frame_size)]
        if self.read_text is not None:
            observations = [self.read_text(o) for o in observations]
        observations = judge_bins(observations, self.taxonomy)   # garbage at a bin: 垃圾满溢
        context = RuleContext(
            self.taxonomy, zones=self.zones, permits=self.permits, params=self.settings.rules,
            history=DbSightingHistory(self.sessions, self.taxonomy,
                                      max_age_s=self.settings.rules.parking_overstay_window_h * 3600),
            nearby=tuple(observations))
        items = [self._judge(observation, context) for observation in observations]
        truncated, note = footage_note(info, decoded)
        driven_s = decoded.last_pts_s if truncated and decoded.last_pts_s else info.duration_s
        passes = video_passes(track, start_utc, driven_s, self.roads, self.settings.coverage_h3_resolution,
                              self.zones)
        return writes.VideoResults(
            frames_sampled=frames_sampled, detections=detections_total,
            gps_source=str(gps.discovery.path) if gps.discovery else None, gps_fixes=len(track) if track else 0,
            gps_offset_s=gps.alignment.offset_s if gps.alignment else 0.0,
            gps_kind=gps.discovery.source if gps.discovery else None, gps_dropped=dict(gps.dropped),
            time_status=gps.time_status,
            start_utc=datetime.fromtimestamp(start_utc, UTC) if start_utc is not None else None,
            model_name=self.detector.model_name, items=items, camera=camera,
            shadow=shadow.run() if shadow is not None else None, truncated=truncated,
            analysed_s=decoded.last_pts_s, decode_note=note, passes=passes)

    def _beat(self, video_id: int) -> bool:
        """Refresh the claim; a heartbeat that waited out a lock is skipped, not fatal (the next one may land)."""
        try:
            return writes.heartbeat(self.sessions, video_id, self.worker)
        except DatabaseError as exc:
            if not is_lock_timeout(exc):
                raise
            log.warning("video #%d: heartbeat skipped, the database is locked: %s", video_id, exc)
            return True

    def _judge(self, observation: Observation, context: RuleContext) -> tuple[Observation, Violation | None]:
        """The rules' verdict on one observation; one below its family's queue threshold is held back
        (the observation keeps what it would have been, and why it stays out of the queue)."""
        violations = evaluate_rules(self.rules, observation, context)
        if not violations:
            return observation, None
        verdict = max(violations, key=lambda v: v.priority)
        threshold = self.settings.rules.queue_threshold(verdict.family)
        if verdict.priority >= threshold:
            return observation, verdict
        held = {"held_family": verdict.family, "held_event": verdict.event_code,
                "held_priority": f"{verdict.priority:.3f}",
                "held_reason": f"below the {verdict.family} queue threshold {threshold:.2f}: {verdict.reason}; "
                               f"{verdict.priority_reason}"}
        return replace(observation, attributes={**observation.attributes, **held}), None

    def _calibrate(self, calibration: SelfCalibration, tracked: Detections, frame: Frame) -> None:
        """Give the self-calibration this frame's vehicles (of known width); now and then, let the
        motion judge range with the estimate so far."""
        names = tracked.class_names()
        if tracked.tracker_id is not None:
            for box, tid, name in zip(as_boxes(tracked.xyxy), tracked.tracker_id, names, strict=True):
                if str(name) in self.movable and (size := self.taxonomy.typical_size(str(name))) is not None:
                    calibration.add_box(int(tid), box, size[1], frame.width, frame.height)
        self._frames_seen += 1
        if self._frames_seen % CALIBRATE_EVERY_FRAMES == 0:
            self._video_camera = choose_camera(self.camera, self.camera_explicit,
                                               calibration.estimate(self.camera, frame.width, frame.height)).camera
            self._camera_varied |= self._video_camera != self.camera

    def _relocated(self, observation: Observation, camera: CameraModel, track: GpsTrack | None,
                   start_utc: float | None) -> Observation:
        """The observation placed again with ``camera`` (its lateral offset too)."""
        if track is None or start_utc is None:
            return observation
        width, height = self._frame_size
        poses = track.poses_at([start_utc + p.pts_s for p in observation.points])
        location = locate_track(observation.points, poses, camera, width, height,
                                size=class_size(self.taxonomy, observation.class_name),
                                on_ground=self.taxonomy.on_ground(observation.class_name))
        motion = observation.motion
        if motion is not None:
            motion = replace(motion, lateral_offset_m=lateral_offset(location, poses, observation.points))
        return replace(observation, location=location, motion=motion)

    def _moves_by_itself(self, class_name: str) -> bool:
        """Vehicles and people move by themselves; a re-sighting of them in the same view may be another one."""
        return class_name in self.movable or class_name == "person"

    def _movable_boxes(self, tracked: Detections) -> dict[int, tuple[float, float, float, float]]:
        """Tracked vehicles' boxes by track id: the objects whose motion state is measured."""
        if tracked.tracker_id is None or len(tracked) == 0:
            return {}
        names = tracked.class_names()
        return {int(tid): box for box, tid, name in zip(as_boxes(tracked.xyxy), tracked.tracker_id, names, strict=True)
                if str(name) in self.movable}

    def _motion_judge(self, meter: MotionMeter[int], track: GpsTrack | None, start_utc: float | None
                      ) -> Callable[[int, Sequence[TrackPoint], str, Location], Motion | None]:
        """Decide a finished vehicle track's motion state from the footage (and GPS, when placed)."""
        def judge(track_id: int, points: Sequence[TrackPoint], class_name: str, location: Location) -> Motion | None:
            if not points or class_name not in self.movable:
                meter.forget(track_id)
                return None
            poses = (track.poses_at([start_utc + p.pts_s for p in points])
                     if track is not None and start_utc is not None else [])
            # With GPS the camera is a patrol car's: its ranging tells the lane better than the image.
            lateral = median_lateral_m(self._video_camera, [p.xyxy for p in points], *self._frame_size) \
                if poses else None
            foe = meter.focus_of_expansion
            centre_x = foe[0] if foe is not None else self._frame_size[0] / 2
            estimate = meter.estimate(track_id, [(p.pts_s, p.xyxy) for p in points],
                                      self._ground_evidence(points, poses, centre_x), lateral)
            meter.forget(track_id)
            return Motion(MotionState(estimate.state), estimate.score, estimate.stationary_sightings,
                          estimate.total_sightings, estimate.reason, lateral_offset(location, poses, points),
                          estimate.ground_summary)
        return judge

    def _ground_evidence(self, points: Sequence[TrackPoint], poses: Sequence[Pose | None], centre_x: float
                         ) -> GpsEvidence | None:
        """Where each sighting puts the vehicle on the ground (flat-ground ranging from the GPS pose
        of its near outer corner, see :func:`near_corner_box`; ``centre_x`` is the road's centre
        column): a parked vehicle's positions stay within the ranging error, a driving one's drift away."""
        if not poses:
            return None
        width, height = self._frame_size
        placed: list[tuple[float, float, float]] = []
        plane: LocalPlane | None = None
        ranges: list[float] = []
        cameras: list[tuple[float, float]] = []
        for point, pose in zip(points, poses, strict=True):
            where = locate_object(pose, self._video_camera, near_corner_box(point.xyxy, centre_x), width, height)
            if (pose is None or where.status is not LocationStatus.GEOLOCATED or where.lat is None
                    or where.lon is None or where.range_m is None or where.range_m > GPS_MOTION_MAX_RANGE_M):
                continue
            plane = plane or LocalPlane(where.lat, where.lon)
            east, north = plane.to_en(where.lat, where.lon)
            placed.append((point.pts_s, east, north))
            cameras.append(plane.to_en(pose.lat, pose.lon))
            ranges.append(where.range_m)
        if len(placed) < 3:
            return None
        return GpsEvidence(placed, expected_drift_m=max(4.0, 0.2 * float(np.median(ranges))),
                           camera_travel_m=math.dist(cameras[0], cameras[-1]))

    def _taxonomy_only(self, detections: Detections) -> Detections:
        """Keep the classes the taxonomy knows, named as the taxonomy names them."""
        if detections.class_id is None or len(detections) == 0:
            return Detections.empty()
        keep = np.isin(detections.class_id, list(self.class_names))
        kept = detections[keep]
        kept.data["class_name"] = np.array([self.class_names[int(c)] for c in detections.class_id[keep]])
        return kept

    def _locator(self, track: GpsTrack | None, start_utc: float | None) -> Locator:
        """Place a finished track: triangulated from all its sightings, flat-ground ranged when short."""
        def locate(points: Sequence[TrackPoint], best: TrackPoint, class_name: str, width: int,
                   height: int) -> tuple[Location, float | None]:
            if track is None or start_utc is None:
                return Location(LocationStatus.UNKNOWN), None
            poses = track.poses_at([start_utc + p.pts_s for p in points])
            location = locate_track(points, poses, self._video_camera, width, height,
                                    size=class_size(self.taxonomy, class_name),
                                    on_ground=self.taxonomy.on_ground(class_name))
            return location, start_utc + best.pts_s
        return locate


def as_boxes(xyxy: npt.NDArray[Any]) -> list[tuple[float, float, float, float]]:
    """Nx4 box array -> (x1, y1, x2, y2) tuples."""
    return [(float(b[0]), float(b[1]), float(b[2]), float(b[3])) for b in xyxy]


def lateral_offset(location: Location, poses: Sequence[Pose | None], points: Sequence[TrackPoint]) -> float | None:
    """How far right (+) or left (-) of the patrol car's path a placed object stands, in metres,
    from the pose at its middle sighting (None without a position or a heading)."""
    if location.status is not LocationStatus.GEOLOCATED or location.lat is None or location.lon is None:
        return None
    headed = [pose for pose in poses if pose is not None and pose.heading is not None]
    if not headed:
        return None
    pose = headed[len(headed) // 2]
    assert pose.heading is not None
    east, north = LocalPlane(pose.lat, pose.lon).to_en(location.lat, location.lon)
    heading = math.radians(pose.heading)
    return round(east * math.cos(heading) - north * math.sin(heading), 2)


def process_videos(paths: Sequence[Path], settings: Settings, gps_path: Path | None = None, *,
                   progress: bool = True, detector: Detector | None = None,
                   on_outcome: Callable[[Outcome], None] | None = None, shadow: ShadowModel | None = None,
                   on_detect: Callable[[int, float], None] | None = None) -> RunSummary:
    """Process a batch of videos; every file gets an outcome, none stops the others.

    With ``shadow``, that model also runs on every sampled frame; its detections are stored apart
    (``shadow_frames``) and never file anything. ``on_detect`` is told each detector call's frames
    and seconds (metrics).
    """
    started = time.monotonic()
    summary = RunSummary()
    processor = VideoProcessor(settings, detector, progress=progress, shadow=shadow, on_detect=on_detect)
    try:
        for path in paths:
            outcome = processor.process(Path(path), gps_path)
            summary.outcomes.append(outcome)
            if on_outcome is not None:
                on_outcome(outcome)
        summary.notes.extend(processor.release_pending())
    finally:
        processor.close()
    summary.seconds = time.monotonic() - started
    return summary
