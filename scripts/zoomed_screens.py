"""Screenshots of every page zoomed as a teacher zooms (Ctrl + pressed N times), for
checking presentation mode's layout; then a contact sheet of them.

    python scripts/zoomed_screens.py OUT_DIR [--size 1280x800] [--presses 3] [--pages cavi,vae]
    python scripts/zoomed_screens.py OUT_DIR --tour      # every stop of the lecture tour
    python scripts/contact_sheet.py OUT_DIR docs/zoomed-1280-contact-sheet.png
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    ap.add_argument("--size", default="1280x800")
    ap.add_argument("--presses", type=int, default=3)
    ap.add_argument("--pages", default="")
    ap.add_argument("--tour", action="store_true", help="the lecture tour's stops, not the pages")
    args = ap.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from vigui.window import MainWindow

    app = QApplication.instance() or QApplication([])
    app.setApplicationName("vigui")
    win = MainWindow(fresh=True, open_initial=False)
    w, h = (int(v) for v in args.size.lower().split("x"))
    win.resize(w, h)
    win.show()
    win.activateWindow()
    QTest.qWaitForWindowExposed(win)
    app.processEvents()
    for _ in range(args.presses):
        QTest.keyClick(win, Qt.Key_Plus, Qt.ControlModifier)
    print(f"zoom {win.zoom:.2f}")
    if args.tour:
        from vigui.teaching.scenes import lecture_tour

        return win.save_tour_screenshots(Path(args.out), lecture_tour([s.page_id for s in win.specs]))
    ids = args.pages.split(",") if args.pages else None
    return win.save_screenshots(Path(args.out), ids)


if __name__ == "__main__":
    raise SystemExit(main())
