"""Screenshots of both tabs of the Bayes by Backprop page, as committed in docs/screens/:
bbb-regression.png (Figure 15 after 2,000 steps, seed 0) and bbb-classify.png (digits,
30 epochs, seed 0), the window at 1280x800. Run from the repository root:

    QT_QPA_PLATFORM=offscreen .venv/bin/python docs/screens/bbb_tabs.py
"""
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
HERE = Path(__file__).resolve().parent


def settle(app, seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)


def main():
    from PySide6.QtGui import QImage
    from PySide6.QtWidgets import QApplication

    app = QApplication(sys.argv[:1])
    from vigui.window import MainWindow

    window = MainWindow(fresh=True)
    window.resize(1280, 800)
    window.show()
    window.open_page("bbb")
    page = window.pages["bbb"]
    for key in ("regression", "classify"):
        page.show_section(key)
        page.prepare_screenshot()
        deadline = time.monotonic() + 300
        while not page.screenshot_ready() and time.monotonic() < deadline:
            settle(app, 0.1)
        settle(app, 1.0)
        path = HERE / f"bbb-{key}.png"
        # 256 colours keep the plots readable and the file small
        window.grab().toImage().convertToFormat(QImage.Format_Indexed8).save(str(path), "PNG")
        print(path, path.stat().st_size // 1024, "KB")
    window.close()


if __name__ == "__main__":
    main()
