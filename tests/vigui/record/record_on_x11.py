"""Run by test_recorder_x11.py under Xvfb: record the page through the Record dialog,
as a teacher does, with the dialog over the page when Record is pressed and another vigui
window shown over the page, then closed, while recording; print what the GIF holds (JSON).
Both are magenta, which vigui never draws. (The screen keeps a window's pixels until the
page paints the area again: a frame read from the screen just after the dialog hid
showed it.)"""
import json
import sys
import time

import numpy as np
from PIL import Image
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QLabel

from vigui.run.events import wait
from vigui.window import MainWindow

app = QApplication(sys.argv[:1])
out = sys.argv[1]
win = MainWindow(fresh=True)
win.resize(1000, 700)
win.show()
win.open_page("info")
wait(1500)
page = win.current_page()
menu = next(a.menu() for a in win.menuBar().actions() if a.text() == "Re&cord")
menu.actions()[0].trigger()  # Record page or plot… (Ctrl+Shift+R; Xvfb has no focus for keys)
dialog = win.record_dialog
dialog.setStyleSheet("QDialog { background: #ff00ff; }")
centre = page.mapToGlobal(page.rect().center())
dialog.move(centre - QPoint(dialog.width() // 2, dialog.height() // 2))
cover = QLabel("another vigui window")
cover.setStyleSheet("background: #ff00ff")
cover.setWindowFlags(Qt.Tool)
cover.setGeometry(centre.x() + 100, centre.y() - 200, 240, 160)
dialog.fps.setValue(10)
dialog.width_box.setValue(320)
dialog.limit.setValue(2)
dialog.mp4.setChecked(False)
dialog.path.setText(out)
wait(500)
dialog_over_page = dialog.isVisible()
QTest.mouseClick(dialog.record_button, Qt.LeftButton)
wait(300)
stepped_aside = not dialog.isVisible() and dialog.stop_button.isVisible()
cover.show()  # another vigui window over the page for a moment
wait(400)
cover.hide()
deadline = time.monotonic() + 60
written = []
dialog.written.connect(written.append)
while not written and time.monotonic() < deadline:
    wait(100)
magenta, frames = 0, len(dialog.recorder.store)  # the GIF merges identical frames
with Image.open(written[0][0]) as im:
    for i in range(im.n_frames):
        im.seek(i)
        rgb = np.asarray(im.convert("RGB")).astype(int)
        magenta += int(((rgb[..., 0] > 200) & (rgb[..., 1] < 60) & (rgb[..., 2] > 200)).sum())
print(json.dumps({"platform": app.platformName(), "dialog_over_page": dialog_over_page,
                  "stepped_aside": stepped_aside, "came_back": dialog.isVisible(),
                  "frames": frames, "magenta": magenta}))
win.close()
