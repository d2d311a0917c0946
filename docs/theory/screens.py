"""Screenshots of every theory panel, as committed in docs/theory/.

For each chapter: the panel at the width it has in a 1280x800 window, and at its
narrowest (vigui.theory.view.MIN_WIDTH), each as two screens side by side (the top
of the panel and a later part with the main equations). Run from the repository root:

    QT_QPA_PLATFORM=offscreen .venv/bin/python docs/theory/screens.py [CHAPTER ...]
"""
import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from PySide6.QtGui import QImage, QPainter, Qt  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

HERE = Path(__file__).resolve().parent
#: where the second screen starts: a phrase of the panel's text
SECOND = {"info": "Joint and conditional", "cavi": "Every term has a closed form",
          "vae": "The loss", "bbb": "The KL term"}


def settle(app, ms=300):
    import time

    end = time.monotonic() + ms / 1000
    while time.monotonic() < end:
        app.processEvents()


def screens(view, app, phrase):
    view.verticalScrollBar().setValue(0)
    settle(app)
    top = view.grab().toImage()
    cursor = view.document().find(phrase)
    block_y = view.document().documentLayout().blockBoundingRect(cursor.block()).top()
    view.verticalScrollBar().setValue(int(block_y) - 8)
    settle(app)
    later = view.grab().toImage()
    out = QImage(top.width() * 2 + 12, top.height(), QImage.Format_RGB32)
    out.fill(Qt.white)
    painter = QPainter(out)
    painter.drawImage(0, 0, top)
    painter.drawImage(top.width() + 12, 0, later)
    painter.end()
    return out


def save(image, path):
    # 64 colours: anti-aliased black text on white needs no more, and the file stays small
    image.convertToFormat(QImage.Format_Indexed8, Qt.ThresholdDither).save(str(path), "PNG")
    print(path, path.stat().st_size // 1024, "KB")


def main():
    app = QApplication(sys.argv[:1])
    from vigui.theory.view import MIN_WIDTH
    from vigui.window import MainWindow

    window = MainWindow(fresh=True)
    window.resize(1280, 800)
    window.show()
    for name in sys.argv[1:] or SECOND:  # chapter names, default all
        window.open_page(name)
        settle(app, 500)
        page = window.pages[name]
        view = page.theory_view
        height = view.height()
        print(name, "panel at 1280x800:", view.width(), "x", height)
        save(screens(view, app, SECOND[name]), HERE / f"{name}-1280.png")
        sizes = page.splitter.sizes()
        page.splitter.setSizes([sizes[0], sizes[1] + sizes[2] - MIN_WIDTH, MIN_WIDTH])
        settle(app, 500)
        print(name, "narrowest:", view.width())
        save(screens(view, app, SECOND[name]), HERE / f"{name}-narrow.png")
    window.close()


if __name__ == "__main__":
    main()
