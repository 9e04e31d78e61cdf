"""Start-up: how long the ``itb`` commands take to start, as ratios of an empty Python.

    python benchmarks/startup.py [--runs N] [--serve-runs N] [--no-bytecode-cache] [--ready]

In one run: the floor ``python -c pass`` (this interpreter), ``python -c "import typer"`` (the
command-line library alone: no command that goes through it can start faster), the modules
``itb simulate`` runs on without the command line, ``itb --help`` (written without Typer) and
``itb simulate`` (the bundled demo scenario), run in turn N times each; then ``itb serve`` and
``itb serve --demo`` on a new, empty SQLite database, timed from the start of the process to
the first HTTP 200 of ``GET /api/health`` (``itb serve``: the built app; ``--demo``: the server
listens before the app is built and answers the health check at once, every other request 503
"being prepared"); with ``--ready``, also until the demo clinic is ready (the login page
answers 200 instead of 503). The goals (issue 16) are printed beside the figures. Prints each
command's median wall and CPU time (user + system, from the kernel's accounting of the child)
and its ratio to the floor, the ratio taken round by round so that a machine that speeds up or
slows down meanwhile cancels out.

The commands run with their bytecode cached (as an installed package runs: in a private
``PYTHONPYCACHEPREFIX``, written by a warm-up run). ``--no-bytecode-cache``: as an editable
checkout under ``PYTHONDONTWRITEBYTECODE=1`` runs, the project's own modules compiled every run.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

PYTHON = sys.executable


def itb() -> list[str]:
    exe = Path(PYTHON).with_name("itb")
    return [str(exe)] if exe.exists() else [PYTHON, "-c", "from itb.cli import main; main()"]


def child_env(cache: str | None) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("PYTHONPYCACHEPREFIX", None)
    if cache is None:
        env["PYTHONDONTWRITEBYTECODE"] = "1"  # the installed packages' own bytecode only
    else:
        env["PYTHONPYCACHEPREFIX"] = cache
    return env


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds of one run of ``argv`` (its output discarded)."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited with {proc.returncode}")
    return wall, usage.ru_utime + usage.ru_stime


SIMULATE_MODULES = "import itb.pump.scenario_json, itb.pump.simulator, itb.simulation.timeline, itb.shell.files"
#: the goals of issue 16: CPU time at most this many times the floor's
GOALS = {"itb --help": 4.0, "itb simulate": 6.0}
#: ``itb serve --demo`` answers within this many seconds
SERVE_GOAL_S = 1.5


def commands() -> dict[str, list[str]]:
    return {
        "python -c pass": [PYTHON, "-c", "pass"],
        'python -c "import typer"': [PYTHON, "-c", "import typer"],
        "simulate's modules, no CLI": [PYTHON, "-c", SIMULATE_MODULES],
        "itb --help": [*itb(), "--help"],
        "itb simulate": [*itb(), "simulate"],
    }


def measure_commands(runs: int, env: dict[str, str]) -> dict[str, list[tuple[float, float]]]:
    cmds = commands()
    for argv in [*cmds.values(), [PYTHON, "-c", "import itb.web.app, itb.simulation.demo_clinic, uvicorn"]]:
        timed(argv, env)  # warm-up: the bytecode cache (of the server's modules too) and the page cache
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in cmds}
    for _ in range(runs):
        for name, argv in cmds.items():
            times[name].append(timed(argv, env))
    return times


def print_commands(times: dict[str, list[tuple[float, float]]]) -> None:
    floor = times["python -c pass"]
    print(f"{'command':28} {'wall ms':>8} {'x floor':>8} {'cpu ms':>8} {'x floor':>8}  goal (cpu x floor)")
    for name, runs in times.items():
        wall = statistics.median(w for w, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        wall_ratio = statistics.median(w / f for (w, _), (f, _) in zip(runs, floor))
        cpu_ratio = statistics.median(c / f for (_, c), (_, f) in zip(runs, floor))
        goal = GOALS.get(name)
        verdict = "" if goal is None else f"  <= {goal:g}: {'met' if cpu_ratio <= goal else 'NOT met'}"
        print(f"{name:28} {wall * 1000:8.1f} {wall_ratio:8.2f} {cpu * 1000:8.1f} {cpu_ratio:8.2f}{verdict}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status_of(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def serve_once(demo: bool, ready: bool, env: dict[str, str]) -> tuple[float, float | None]:
    """Seconds from spawning ``itb serve`` on a new database to health 200 (and to the demo ready)."""
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        argv = [*itb(), "serve", "--db", f"{tmp}/clinic.db", "--port", str(port)] + (["--demo"] if demo else [])
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        try:
            answered = wait_for(f"http://127.0.0.1:{port}/api/health", start, proc)
            done = wait_for(f"http://127.0.0.1:{port}/login", start, proc) if ready else None
        finally:
            proc.terminate()
            proc.wait(30)
        return answered, done


def wait_for(url: str, start: float, proc: subprocess.Popen, limit: float = 600.0) -> float:
    while time.perf_counter() - start < limit:
        if status_of(url) == 200:
            return time.perf_counter() - start
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with {proc.returncode} before {url} answered")
        time.sleep(0.01)
    raise SystemExit(f"{url} did not answer 200 within {limit:.0f} s")


def print_serve(runs: int, ready: bool, env: dict[str, str], floor_s: float) -> None:
    for demo in (False, True):
        results = [serve_once(demo, ready and demo, env) for _ in range(runs)]
        answered = statistics.median(a for a, _ in results)
        name = "itb serve --demo" if demo else "itb serve"
        goal = f"; goal < {SERVE_GOAL_S:g} s: {'met' if answered < SERVE_GOAL_S else 'NOT met'}" if demo else ""
        print(
            f"{name:28} health 200 after {answered:6.2f} s (median of {runs}; {answered / floor_s:6.1f} x floor{goal})"
        )
        if ready and demo:
            done = statistics.median(d for _, d in results if d is not None)
            print(f"{'':28} demo clinic ready after {done:6.2f} s (the login page answers 200)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--serve-runs", type=int, default=3)
    parser.add_argument("--no-bytecode-cache", action="store_true", help="compile the project's modules on every run")
    parser.add_argument("--ready", action="store_true", help="also time until the demo clinic is ready")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as cache:
        env = child_env(None if args.no_bytecode_cache else cache)
        how = "the project's compiled on every run" if args.no_bytecode_cache else "cached"
        print(f"bytecode: {how}; {args.runs} runs")
        times = measure_commands(args.runs, env)
        print_commands(times)
        floor_s = statistics.median(w for w, _ in times["python -c pass"])
        if args.serve_runs:
            print_serve(args.serve_runs, args.ready, env, floor_s)


if __name__ == "__main__":
    main()
