"""Child-process measurements for ``streetwatch bench``: wall time, CPU time and peak memory of a command.

Each command runs in a process of its own, started by a small launcher (``bench_launch.py``) that
reaps it with :func:`os.wait4`: the resource usage is that command's alone (with any grandchildren
it waited for), user + system CPU seconds and the peak resident set size, what ``/usr/bin/time -v``
reports. The peak cannot read below the launcher's own size (about 10 MiB). Start-up (interpreter,
imports, model load) is part of every figure, as it is for someone who types the command.

Children run the same streetwatch as the bench (its source folder is put first on ``PYTHONPATH``)
and never reach for the network (``YOLO_OFFLINE``, no Ultralytics auto-install).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import streetwatch
from streetwatch.cli.startup import PIPELINE_MODULE
from streetwatch.core.errors import StreetwatchError

OUTPUT_TAIL_LINES = 6
# The import whose cost the start-up section measures, as `streetwatch process` pays it before it can
# touch a video (garbage collector paused, then frozen).
IMPORT_SNIPPET = "from streetwatch.cli.startup import import_pipeline; import_pipeline()"
LAUNCHER = Path(__file__).with_name("bench_launch.py")


class BenchError(StreetwatchError):
    """A command the bench times failed, or cannot be timed here (exit 1)."""


@dataclass(frozen=True, slots=True)
class ChildRun:
    """One command, run to completion in a child process.

    Attributes:
        wall_s: Seconds from start to exit, as a clock on the wall sees them.
        cpu_s: User + system CPU seconds the child used (all its threads).
        peak_rss_mib: The child's peak resident memory, MiB.
    """

    wall_s: float
    cpu_s: float
    peak_rss_mib: float


def median_run(runs: Sequence[ChildRun]) -> ChildRun:
    """Each figure's median over ``runs`` (per column: the medians may come from different runs)."""
    if not runs:
        raise ValueError("no runs to take the median of")
    return ChildRun(statistics.median(r.wall_s for r in runs), statistics.median(r.cpu_s for r in runs),
                    statistics.median(r.peak_rss_mib for r in runs))


def child_env() -> dict[str, str]:
    """The environment for a timed child: ours, offline, with this streetwatch first on the path."""
    env = dict(os.environ)
    env["YOLO_OFFLINE"] = "1"            # no DNS probe, update check or telemetry
    env["YOLO_AUTOINSTALL"] = "false"    # never pip-install a missing requirement mid-run
    source_root = str(Path(streetwatch.__file__).absolute().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (source_root, env.get("PYTHONPATH")) if p)
    return env


def streetwatch_argv(*args: str) -> list[str]:
    """The ``streetwatch`` command line, run by this interpreter (no reliance on PATH)."""
    return [sys.executable, "-m", "streetwatch.cli.main", *args]


def run_child(argv: Sequence[str], *, env: Mapping[str, str], cwd: Path, what: str) -> ChildRun:
    """Run ``argv`` to completion in a child process and measure it.

    The command is started by ``bench_launch.py`` (see there why), which reaps it with
    ``os.wait4``. Its output goes to a scratch file, shown (the last lines) only if it fails.

    Raises:
        BenchError: The command exited with a non-zero status, or this platform has no ``os.wait4``.
    """
    if not hasattr(os, "wait4"):
        raise BenchError("timing child processes needs os.wait4 (Linux, macOS); this platform has none")
    with tempfile.TemporaryDirectory(prefix="bench-run-") as scratch:
        result, log = Path(scratch) / "result.json", Path(scratch) / "output.log"
        with log.open("wb") as output:
            subprocess.run([sys.executable, "-I", "-S", str(LAUNCHER), str(result), *argv], env=dict(env), cwd=cwd,
                           stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT, check=False)
        if not result.is_file():  # the launcher itself failed, e.g. the command does not exist
            raise BenchError(f"could not run {what}: {' '.join(argv)} -- last output: {_tail(log)}")
        measured: dict[str, Any] = json.loads(result.read_text())
        if measured["exit_code"] != 0:
            raise BenchError(f"{what} failed (exit {measured['exit_code']}): {' '.join(argv)} -- "
                             f"last output: {_tail(log)}")
    return ChildRun(measured["wall_s"], measured["user_s"] + measured["sys_s"], _maxrss_mib(measured["maxrss"]))


def run_children(argv: Sequence[str], repeats: int, *, env: Mapping[str, str], cwd: Path,
                 what: str) -> list[ChildRun]:
    """``repeats`` runs of the same command, one after the other."""
    return [run_child(argv, env=env, cwd=cwd, what=what) for _ in range(repeats)]


def process_args(clip: Path, model: Path, sample_fps: float, scratch: Path) -> list[str]:
    """``streetwatch process`` arguments: the clip, into a database and evidence folder inside ``scratch``."""
    return ["process", str(clip), "--db", f"sqlite:///{scratch / 'streetwatch.db'}",
            "--evidence", str(scratch / "evidence"), "--model", str(model), "--sample-fps", f"{sample_fps:g}",
            "--no-progress"]


def run_process(clip: Path, model: Path, sample_fps: float, workdir: Path) -> ChildRun:
    """One timed ``streetwatch process`` run, with a fresh database and evidence folder (removed after)."""
    scratch = Path(tempfile.mkdtemp(prefix="process-", dir=workdir))
    try:
        return run_child(streetwatch_argv(*process_args(clip, model, sample_fps, scratch)), env=child_env(),
                         cwd=workdir, what="streetwatch process")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _maxrss_mib(maxrss: int) -> float:
    """``ru_maxrss`` in MiB: Linux counts it in KiB, macOS in bytes."""
    return maxrss / (1024 * 1024) if sys.platform == "darwin" else maxrss / 1024


def _tail(log: Path) -> str:
    """The last non-blank lines a child wrote, on one line."""
    text = log.read_text(errors="replace")
    lines = [line for line in text.splitlines() if line.strip()]
    return " | ".join(lines[-OUTPUT_TAIL_LINES:]) or "(none)"


# --- start-up --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ImportCost:
    """One module's line in ``python -X importtime``.

    Attributes:
        module: The module's dotted name.
        cumulative_s: Seconds to import it, its own imports included.
        self_s: Seconds spent in the module itself.
        imported_by: The module whose import first pulled it in ("" at the top level).
    """

    module: str
    cumulative_s: float
    self_s: float
    imported_by: str


@dataclass(frozen=True, slots=True)
class StartupReport:
    """How long streetwatch takes to be ready, as child processes.

    Attributes:
        help_runs: ``streetwatch process --help`` (the CLI only).
        import_runs: the pipeline imported as ``process`` imports it (:func:`streetwatch.cli.startup.import_pipeline`).
        slowest_imports: The imports with the largest cumulative time under the latter, slowest first.
    """

    help_runs: list[ChildRun]
    import_runs: list[ChildRun]
    slowest_imports: list[ImportCost]

    def markdown(self) -> str:
        """The section for docs/benchmarks.md."""
        helped, imported = median_run(self.help_runs), median_run(self.import_runs)
        lines = [f"| start-up (median of {len(self.help_runs)} child processes) | wall s | CPU s | peak RSS MiB |",
                 "|---|---|---|---|",
                 f"| `streetwatch process --help` | {helped.wall_s:.2f} | {helped.cpu_s:.2f} | "
                 f"{helped.peak_rss_mib:.0f} |",
                 f"| `{IMPORT_SNIPPET}` | {imported.wall_s:.2f} | {imported.cpu_s:.2f} | "
                 f"{imported.peak_rss_mib:.0f} |",
                 "",
                 f'Slowest imports, cumulative (`python -X importtime -c "import {PIPELINE_MODULE}"`, one run):',
                 "",
                 "| module | cumulative s | self s | first imported by |",
                 "|---|---|---|---|"]
        lines += [f"| {c.module} | {c.cumulative_s:.3f} | {c.self_s:.3f} | {c.imported_by or '-'} |"
                  for c in self.slowest_imports]
        return "\n".join(lines)


def measure_startup(repeats: int, *, cwd: Path, top: int = 5) -> StartupReport:
    """Time ``process --help`` and the pipeline import ``repeats`` times each; list the slowest imports."""
    env = child_env()
    import_argv = [sys.executable, "-c", IMPORT_SNIPPET]
    return StartupReport(
        help_runs=run_children(streetwatch_argv("process", "--help"), repeats, env=env, cwd=cwd,
                               what="streetwatch process --help"),
        import_runs=run_children(import_argv, repeats, env=env, cwd=cwd, what="import the pipeline"),
        slowest_imports=slowest_imports(PIPELINE_MODULE, top, env=env, cwd=cwd),
    )


def slowest_imports(module: str, top: int, *, env: Mapping[str, str], cwd: Path) -> list[ImportCost]:
    """The ``top`` imports with the largest cumulative time when a fresh interpreter imports ``module``.

    ``module`` itself (the sum of everything) is left out.
    """
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", f"import {module}"], env=dict(env),
                          cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BenchError(f"python -X importtime -c 'import {module}' failed: {done.stderr.strip()[-500:]}")
    costs = [c for c in parse_importtime(done.stderr) if c.module != module]
    return sorted(costs, key=lambda c: c.cumulative_s, reverse=True)[:top]


def parse_importtime(text: str) -> list[ImportCost]:
    """Parse ``python -X importtime`` output (stderr), in its order.

    Lines read ``import time: <self us> | <cumulative us> | <indent><module>``, two spaces of indent
    per level; a module is printed after the modules it imported, so a line's importer is the
    first later line one level up.
    """
    rows: list[tuple[int, str, int, int]] = []  # depth, module, self us, cumulative us
    for line in text.splitlines():
        fields = line.removeprefix("import time:").split("|")
        if len(fields) != 3 or not fields[0].strip().isdigit():
            continue  # the header, or something else on stderr
        name = fields[2].removeprefix(" ")
        depth = (len(name) - len(name.lstrip(" "))) // 2
        rows.append((depth, name.strip(), int(fields[0]), int(fields[1])))
    importer = [""] * len(rows)
    waiting: dict[int, list[int]] = {}  # depth -> rows at that depth whose importer is not printed yet
    for index, (depth, name, _, _) in enumerate(rows):
        for child in waiting.pop(depth + 1, []):
            importer[child] = name
        waiting.setdefault(depth, []).append(index)
    return [ImportCost(name, cumulative / 1e6, own / 1e6, importer[i])
            for i, (_, name, own, cumulative) in enumerate(rows)]
