"""CPU of two pipeline stages, each measured against its alternative in alternating rounds, in one process.

Whole `streetwatch process` runs on a shared 2-core machine move by 10-15 % from one minute to the next, more
than the difference between two ways of decoding or of running the OCR. Measured here, in one process, with
`getrusage` (user and system CPU of all threads) around each stage, the two alternatives taking turns:

- decoding the clip as `process` does (5 fps, non-reference frames skipped, sampled frames converted to BGR)
  with one FFmpeg thread (`decode_threads=1`, the default) and with FFmpeg's own choice (`decode_threads=0`);
- the int8 detector on the sampled frames (batches of 8) with one and with two ONNX Runtime intra-op threads;
- the banner/small-ad scan's reads (every 4 s of the clip, 960 px wide, only ad-shaped regions recognised)
  with the OCR sessions' memory arena on (the default) and off (RapidOCR 1.4's own setting).

Usage: python scripts/stage_cpu.py var/bench/bench-1080p30-60s.mp4 --rounds 5 [--stages decode,detect,scan]
"""

from __future__ import annotations

import argparse
import contextlib
import resource
import statistics
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import cv2
import numpy as np

from streetwatch.core.settings import DEFAULT_MODEL
from streetwatch.pipeline.frames import DecodeStats, iter_frames
from streetwatch.vision import ocr
from streetwatch.vision.ad_text import ad_text_regions
from streetwatch.vision.detector import OnnxConfig, build_detector


def cpu_wall(work: Callable[[], object]) -> tuple[object, float, float, float]:
    """``work()``'s result, user and system CPU seconds, and wall seconds."""
    before, started = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    result = work()
    after = resource.getrusage(resource.RUSAGE_SELF)
    return result, after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime, time.perf_counter() - started


def read_all(reader: ocr.TextReader, images: list[np.ndarray]) -> int:
    """Lines recognised on ``images`` as the scan reads them (ad-shaped regions only)."""
    return sum(len(reader.read(image, select=ad_text_regions)) for image in images)


def detect_all(detect: Callable[[list[np.ndarray]], object], images: list[np.ndarray], batch: int = 8) -> int:
    """Batches run over ``images``."""
    for start in range(0, len(images), batch):
        detect(images[start:start + batch])
    return (len(images) + batch - 1) // batch


def readers(width: int) -> dict[str, ocr.TextReader]:
    """The scan's reader as `process` builds it, and the same with RapidOCR's own session options."""
    arena = ocr.TextReader(threads=1, det_max_side=width)
    arena._load()
    plain = ocr.TextReader(threads=1, det_max_side=width)
    built_with = ocr._memory_arena_on
    ocr._memory_arena_on = contextlib.nullcontext  # type: ignore[assignment]
    try:
        plain._load()
    finally:
        ocr._memory_arena_on = built_with
    return {"arena on": arena, "arena off": plain}


Record = Callable[[str, float, float, float, str], None]


def time_decode(clip: Path, rounds: int, record: Record) -> None:
    for _ in range(rounds):
        for threads in (1, 0):
            stats = DecodeStats()
            frames = iter_frames(clip, "stage", sample_fps=5.0, skip_nonref=True, stats=stats, decode_threads=threads)
            count, user, system, wall = cpu_wall(partial(sum, (1 for _ in frames)))
            record(f"decode, decode_threads={threads}", user, system, wall,
                   f"{count} frames of {stats.decoded_frames} decoded")


def time_detect(clip: Path, rounds: int, record: Record) -> None:
    sampled = [frame.image for frame in iter_frames(clip, "stage", sample_fps=5.0, skip_nonref=True)]
    detectors = {threads: build_detector(OnnxConfig(weights=DEFAULT_MODEL, intra_op_threads=threads))
                 for threads in (1, 2)}
    for detector in detectors.values():
        detector.detect(sampled[:8])   # warm-up
    for _ in range(rounds):
        for threads, detector in detectors.items():
            batches, user, system, wall = cpu_wall(partial(detect_all, detector.detect, sampled))
            record(f"detect, {threads} intra-op thread(s)", user, system, wall,
                   f"{len(sampled)} frames, {batches} batches of 8")


def time_scan(clip: Path, rounds: int, record: Record, width: int) -> None:
    scanned = []
    for frame in iter_frames(clip, "stage", sample_fps=0.25):
        height = round(frame.image.shape[0] * width / frame.image.shape[1])
        scanned.append(np.ascontiguousarray(cv2.resize(frame.image, (width, height), interpolation=cv2.INTER_AREA)))
    built = readers(width)
    for _ in range(rounds):
        for name, reader in built.items():
            lines, user, system, wall = cpu_wall(partial(read_all, reader, scanned))
            record(f"scan, {name}", user, system, wall, f"{len(scanned)} frames, {lines} lines recognised")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clip", type=Path)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--scan-width", type=int, default=960)
    parser.add_argument("--stages", default="decode,detect,scan", help="comma-separated: decode, detect, scan")
    args = parser.parse_args()
    stages = set(args.stages.split(","))
    cpu: dict[str, list[float]] = {}

    def record(name: str, user: float, system: float, wall: float, note: str) -> None:
        cpu.setdefault(name, []).append(user + system)
        print(f"| {name} | {user:.2f} | {system:.2f} | {user + system:.2f} | {wall:.2f} | {note} |", flush=True)

    print("| stage | user s | system s | CPU s | wall s | |\n|---|---|---|---|---|---|")
    if "decode" in stages:
        time_decode(args.clip, args.rounds, record)
    if "detect" in stages:
        time_detect(args.clip, args.rounds, record)
    if "scan" in stages:
        time_scan(args.clip, args.rounds, record, args.scan_width)
    print()
    for name, values in cpu.items():
        print(f"{name}: median {statistics.median(values):.2f} s CPU, {min(values):.2f}-{max(values):.2f}")


if __name__ == "__main__":
    main()
