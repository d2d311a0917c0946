"""How long the ``vigui`` process takes to end once its window closes mid-training: from
the window's close to the process's end, as a teacher's shell (or a checker) sees it.
Side by side for each page: the program as shipped (``leave_now``: atexit handlers, then
``os._exit``) and the same run returning normally from ``main`` (the interpreter then
tears down every torch, Qt and pyqtgraph object). Offscreen; ``--busy N`` loads the
machine with N busy processes meanwhile.
Run: python bench/close.py [--pages cavi,bbb,vae] [--repeats 3] [--after 6] [--busy 2]
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Prints the wall time of the window's close, then runs vigui as the program does
# (argv None: leave_now) or returning from main (argv given: the interpreter's teardown).
DRIVER = """
import sys, time
import vigui.window as W
close = W.MainWindow.closeEvent
def closeEvent(self, event):
    print(f"CLOSED {time.time():.4f}", file=sys.stderr, flush=True)
    close(self, event)
W.MainWindow.closeEvent = closeEvent
from vigui.app import main
args = ["--page", sys.argv[1], "--run", "--quit-after", sys.argv[2]]
if sys.argv[3] == "program":
    sys.argv = ["vigui", *args]
    raise SystemExit(main())
raise SystemExit(main(args))
"""


def spin() -> None:
    while True:
        pass


def close_seconds(page: str, after: float, how: str, config: str) -> float:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": ROOT,
           "XDG_CONFIG_HOME": config}
    proc = subprocess.run([sys.executable, "-c", DRIVER, page, str(after), how],
                          capture_output=True, text=True, env=env, timeout=300)
    end = time.time()
    if proc.returncode != 0:
        raise SystemExit(f"{page} ({how}) failed:\n{proc.stderr[-2000:]}")
    closed = next(float(line.split()[1]) for line in proc.stderr.splitlines()
                  if line.startswith("CLOSED "))
    return end - closed


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pages", default="cavi,bbb,vae")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--after", type=float, default=6.0, help="seconds of training before closing")
    ap.add_argument("--busy", type=int, default=0, help="busy loops in other processes")
    args = ap.parse_args(argv)
    import tempfile

    busy = [mp.get_context("spawn").Process(target=spin, daemon=True) for _ in range(args.busy)]
    for p in busy:
        p.start()
    print(f"load (1 min) {os.getloadavg()[0]:.1f}; close to process end, seconds "
          f"(median of {args.repeats})")
    print(f"{'page':6s} {'returning':>10s} {'leave_now':>10s} {'ratio':>6s}")
    try:
        with tempfile.TemporaryDirectory() as config:
            for page in args.pages.split(","):
                times = {how: sorted(close_seconds(page, args.after, how, config)
                                     for _ in range(args.repeats))
                         for how in ("returning", "program")}
                old, new = (times[h][len(times[h]) // 2] for h in ("returning", "program"))
                print(f"{page:6s} {old:10.2f} {new:10.2f} {old / new:5.1f}x")
    finally:
        for p in busy:
            p.terminate()
    print(f"load (1 min) {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
