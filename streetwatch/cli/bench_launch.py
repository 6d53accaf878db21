"""The bench's stopwatch: run one command, then write its wall time and resource usage as JSON.

``python -I -S bench_launch.py RESULT.json COMMAND [ARGS...]``

Why a process of its own: on Linux, a child's peak memory (``ru_maxrss``) starts from the
high-water mark of the process it was spawned from (the kernel carries it across ``exec``).
Spawned straight from the bench, which has loaded two detectors by then, every command would
seem to need a GiB or more. Spawned from this launcher (standard library only, run without site
packages: about 10 MiB), that floor is the launcher's own size.

Standard library only, and no streetwatch import: the launcher must stay small.
"""

from __future__ import annotations

import json
import os
import sys
import time


def main(argv: list[str]) -> int:
    """Run ``argv[2:]``, write ``{exit_code, wall_s, user_s, sys_s, maxrss}`` to ``argv[1]``; 0 if written."""
    if len(argv) < 3:
        print(f"usage: {argv[0]} RESULT.json COMMAND [ARGS...]", file=sys.stderr)
        return 2
    result_path, command = argv[1], argv[2:]
    started = time.perf_counter()
    pid = os.posix_spawnp(command[0], command, os.environ)
    _, status, usage = os.wait4(pid, 0)
    wall_s = time.perf_counter() - started
    with open(result_path, "w", encoding="utf-8") as result:
        json.dump({"exit_code": os.waitstatus_to_exitcode(status), "wall_s": wall_s, "user_s": usage.ru_utime,
                   "sys_s": usage.ru_stime, "maxrss": usage.ru_maxrss}, result)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
