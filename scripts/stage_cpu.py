"""CPU of pipeline stages, each measured against its alternative in alternating rounds, in one process.

Whole `streetwatch process` runs on a shared 2-core machine move by 10-15 % from one minute to the next, more
than the difference between two ways of decoding or of running the OCR. Measured here, in one process, with
`getrusage` (user and system CPU of all threads) around each stage (the bench's `time_stage`), the two
alternatives taking turns:

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
import statistics
from collections.abc import Callable
from functools import partial
from pathlib import Path

import cv2
import numpy as np

from streetwatch.cli.bench import StageTime, time_decode, time_inference, time_stage
from streetwatch.core.settings import DEFAULT_MODEL
from streetwatch.pipeline.frames import DecodeStats, iter_frames
from streetwatch.vision import ocr
from streetwatch.vision.ad_text import ad_text_regions
from streetwatch.vision.detector import OnnxConfig, build_detector

BATCH = 8   # the detector's batch in `process`


def read_all(reader: ocr.TextReader, images: list[np.ndarray], lines: list[int]) -> int:
    """Read ``images`` as the scan reads them (ad-shaped regions only); the lines recognised go to ``lines``."""
    lines.append(sum(len(reader.read(image, select=ad_text_regions)) for image in images))
    return len(images)


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


Record = Callable[[str, StageTime, str], None]


def time_decoding(clip: Path, rounds: int, record: Record) -> None:
    for _ in range(rounds):
        for threads in (1, 0):
            stats = DecodeStats()
            stage, _ = time_decode(clip, 5.0, stats=stats, skip_nonref=True, decode_threads=threads)
            record(f"decode, decode_threads={threads}", stage,
                   f"{stage.frames} frames of {stats.decoded_frames} decoded")


def time_detect(clip: Path, rounds: int, record: Record) -> None:
    sampled = [frame.image for frame in iter_frames(clip, "stage", sample_fps=5.0, skip_nonref=True)]
    detectors = {threads: build_detector(OnnxConfig(weights=DEFAULT_MODEL, intra_op_threads=threads))
                 for threads in (1, 2)}
    for _ in range(rounds):
        for threads, detector in detectors.items():
            stage = time_inference(detector.detect, sampled, BATCH)   # after a warm-up batch of its own
            record(f"detect, {threads} intra-op thread(s)", stage, f"{stage.frames} frames, batches of {BATCH}")


def time_scan(clip: Path, rounds: int, record: Record, width: int) -> None:
    scanned = []
    for frame in iter_frames(clip, "stage", sample_fps=0.25):
        height = round(frame.image.shape[0] * width / frame.image.shape[1])
        scanned.append(np.ascontiguousarray(cv2.resize(frame.image, (width, height), interpolation=cv2.INTER_AREA)))
    built = readers(width)
    for _ in range(rounds):
        for name, reader in built.items():
            lines: list[int] = []
            stage = time_stage(partial(read_all, reader, scanned, lines))
            record(f"scan, {name}", stage, f"{stage.frames} frames, {lines[0]} lines recognised")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clip", type=Path)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--scan-width", type=int, default=960)
    parser.add_argument("--stages", default="decode,detect,scan", help="comma-separated: decode, detect, scan")
    args = parser.parse_args()
    stages = set(args.stages.split(","))
    cpu: dict[str, list[float]] = {}

    def record(name: str, stage: StageTime, note: str) -> None:
        cpu.setdefault(name, []).append(stage.cpu_s)
        print(f"| {name} | {stage.user_s:.2f} | {stage.system_s:.2f} | {stage.cpu_s:.2f} | {stage.wall_s:.2f} "
              f"| {note} |", flush=True)

    print("| stage | user s | system s | CPU s | wall s | |\n|---|---|---|---|---|---|")
    if "decode" in stages:
        time_decoding(args.clip, args.rounds, record)
    if "detect" in stages:
        time_detect(args.clip, args.rounds, record)
    if "scan" in stages:
        time_scan(args.clip, args.rounds, record, args.scan_width)
    print()
    for name, values in cpu.items():
        print(f"{name}: median {statistics.median(values):.2f} s CPU, {min(values):.2f}-{max(values):.2f}")


if __name__ == "__main__":
    main()
