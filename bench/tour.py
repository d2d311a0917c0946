"""The lecture tour as a teacher walks it: Page Down, then how long until the stop is
fully drawn (the page's ``screenshot_ready``: its figure, every plot, the run at its
steps), per stop, with the app's own runners (child processes for the VAE and CVAE).

``--busy N`` runs N busy Python loops in other processes meanwhile (another program
loading the machine). ``--gap S``: seconds on each stop before the next Page Down (0.3:
a quick clicker; the next stop's modules are imported in the background meanwhile).
Offscreen, 1280x800. Prints one line per stop, the total and the load average (1 min)
before and after: on a shared machine, compare runs made under the same load.
Run: QT_QPA_PLATFORM=offscreen python bench/tour.py [--busy 2] [--stops 15-20] [--gap 3]
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def spin() -> None:
    while True:
        pass


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--busy", type=int, default=0, help="busy loops in other processes")
    ap.add_argument("--stops", default="", help="e.g. 15-20 (1-based, default: all)")
    ap.add_argument("--timeout", type=float, default=90.0)
    ap.add_argument("--gap", type=float, default=0.3, help="seconds on a stop before Page Down")
    args = ap.parse_args(argv)

    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    from bench.window import open_window
    from vigui.teaching.scenes import lecture_tour

    app, win, wait = open_window()
    tour = lecture_tour([s.page_id for s in win.specs])
    lo, hi = 1, len(tour.stops)
    if args.stops:
        lo, hi = (int(v) for v in args.stops.split("-"))
    busy = [mp.get_context("spawn").Process(target=spin, daemon=True) for _ in range(args.busy)]
    for p in busy:
        p.start()
    times = []
    load_before = os.getloadavg()[0]
    try:
        win.start_tour(tour, lo - 2) if lo > 1 else None
        for i in range(lo - 1, hi):
            wait(int(args.gap * 1000))
            t0 = time.monotonic()
            QTest.keyClick(win, Qt.Key_PageDown)
            page = win.current_page()
            while not page.screenshot_ready() and time.monotonic() - t0 < args.timeout:
                wait(20)
            win.repaint()  # drawn on screen too, not only handed to the plots
            elapsed = time.monotonic() - t0
            times.append(elapsed)
            assert win.tour_index == i, (win.tour_index, i)
            print(f"stop {i + 1:2d}  {elapsed:5.1f} s  {tour.stops[i].title}", flush=True)
    finally:
        for p in busy:
            p.terminate()
        win.close()
        app.processEvents()
    print(f"total {sum(times):.1f} s, slowest {max(times):.1f} s, busy loops {args.busy}, "
          f"gap {args.gap:g} s, load average {load_before:.1f} -> {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
