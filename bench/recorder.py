"""What recording costs a training run: steps per second with and without a Recorder.

For each page (CAVI in gradient mode on 100,000 points: a worker thread sharing the GIL
with the GUI; the VAE on digits: a child process), the real window (1280x800, offscreen)
plays the page and alternates phases without and with a recording of the whole page
(``--fps`` frames a second, ``--width`` pixels wide, frames to a temp file), ``--rounds``
of each, so that both see the same machine load. Prints steps/s in each condition, the
ratio (recording / not), and what one grab costs the GUI thread. Aim (issue 12): the
ratio stays above 0.90.

Measured on the 2-core development machine (shared, loaded), 10 frames/s at 640 px:
reading the window's painted pixels, a grab costs 1.8 ms (VAE) to 6.9 ms (CAVI) and the
ratio was 1.02-1.08 (no measurable slowdown; phase-to-phase noise is larger). Repainting
the page for each frame (QWidget.grab, 43-57 ms a grab) measured 0.76-0.87 for the VAE.

    python bench/recorder.py [--phase 6] [--rounds 3] [--fps 10] [--width 640] [--pages cavi,vae]
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

SETUPS = {
    "cavi": {"n": 100_000, "k": 5, "dim": 2, "mode": "gradient", "alpha": 1e-6,
             "data_file": None},
    "vae": {"dataset": "digits"},
}


def measure(window, page_id: str, args) -> dict:
    from vigui.record.capture import CaptureTarget
    from vigui.record.recorder import Recorder
    from vigui.run.events import wait

    window.open_page(page_id)
    page = window.pages[page_id]
    page.params.restore(SETUPS[page_id], emit=False)
    control = page.run_control()
    control.reset(play=True)
    steps = [0]
    control.progress.connect(lambda n, r: steps.append(n))
    deadline = time.perf_counter() + 180
    while steps[-1] == 0 and time.perf_counter() < deadline:
        wait(20)  # until it trains (a child process imports torch first)
    wait(2000)  # past the first, slower steps

    rates = {False: [], True: []}
    grab_ms, frames = [], 0
    for _ in range(args.rounds):
        for recording in (False, True):
            recorder = None
            if recording:
                recorder = Recorder(CaptureTarget("page", page), fps=args.fps, width=args.width,
                                    max_seconds=args.phase + 5)
                recorder.start()
            s0, t0 = steps[-1], time.perf_counter()
            wait(int(1000 * args.phase))
            s1, t1 = steps[-1], time.perf_counter()
            rates[recording].append((s1 - s0) / (t1 - t0))
            if recorder is not None:
                recorder.stop()
                frames += len(recorder.store)
                grab_ms.append(1000 * recorder.grab_seconds / max(1, recorder.grabs))
                recorder.store.discard()
    page.close_page()
    off, on = np.mean(rates[False]), np.mean(rates[True])
    return {"page": page_id, "off": off, "on": on, "ratio": on / off,
            "grab_ms": float(np.mean(grab_ms)), "frames": frames,
            "spread": (min(rates[False]), max(rates[False]))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--phase", type=float, default=6.0, help="seconds per phase")
    ap.add_argument("--rounds", type=int, default=3, help="off/on pairs per page")
    ap.add_argument("--fps", type=int, default=10)
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--pages", default="cavi,vae")
    args = ap.parse_args(argv)

    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])  # noqa: F841
    from vigui.window import MainWindow

    window = MainWindow(fresh=True)
    window.resize(1280, 800)
    window.show()
    rows = [measure(window, page_id, args) for page_id in args.pages.split(",")]
    window.close()

    print(f"\nRecording the whole page at {args.fps} frames/s, {args.width} px wide "
          f"({args.rounds} x {args.phase:g} s per condition, alternating; {os.cpu_count()} cores):")
    print(f"{'page':6s} {'steps/s off':>12s} {'steps/s on':>11s} {'ratio':>6s} "
          f"{'grab ms':>8s} {'frames':>7s}  off range")
    for r in rows:
        print(f"{r['page']:6s} {r['off']:12.1f} {r['on']:11.1f} {r['ratio']:6.3f} "
              f"{r['grab_ms']:8.1f} {r['frames']:7d}  {r['spread'][0]:.1f}–{r['spread'][1]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
