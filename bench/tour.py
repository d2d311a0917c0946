"""The lecture tour as a teacher walks it: Page Down, then how long until the stop is
fully drawn (the page's ``screenshot_ready``: its figure, every plot, the run at its
steps), per stop, with the app's own runners (child processes for the VAE and CVAE).

``--busy N`` runs N busy Python loops in other processes meanwhile (another program
loading the machine). Offscreen, 1280x800. Prints one line per stop and the total.
Run: QT_QPA_PLATFORM=offscreen python bench/tour.py [--busy 2] [--stops 15-20]
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
    args = ap.parse_args(argv)

    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from vigui.run.events import wait
    from vigui.teaching.scenes import lecture_tour
    from vigui.window import MainWindow

    app = QApplication.instance() or QApplication([])
    win = MainWindow(fresh=True, open_initial=False)
    win.resize(1280, 800)
    win.show()
    win.activateWindow()
    tour = lecture_tour([s.page_id for s in win.specs])
    lo, hi = 1, len(tour.stops)
    if args.stops:
        lo, hi = (int(v) for v in args.stops.split("-"))
    busy = [mp.get_context("spawn").Process(target=spin, daemon=True) for _ in range(args.busy)]
    for p in busy:
        p.start()
    times = []
    try:
        win.start_tour(tour, lo - 2) if lo > 1 else None
        for i in range(lo - 1, hi):
            wait(300)
            t0 = time.monotonic()
            QTest.keyClick(win, Qt.Key_PageDown)
            page = win.current_page()
            while not page.screenshot_ready() and time.monotonic() - t0 < args.timeout:
                wait(20)
            elapsed = time.monotonic() - t0
            times.append(elapsed)
            assert win.tour_index == i, (win.tour_index, i)
            print(f"stop {i + 1:2d}  {elapsed:5.1f} s  {tour.stops[i].title}", flush=True)
    finally:
        for p in busy:
            p.terminate()
        win.close()
        app.processEvents()
    print(f"total {sum(times):.1f} s, slowest {max(times):.1f} s, busy loops {args.busy}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
