"""Tile PNG screenshots into one small contact sheet (docs/tour-contact-sheet.png).

    python -m vigui --screenshot /tmp/tour --tour
    python scripts/contact_sheet.py /tmp/tour docs/tour-contact-sheet.png

Each image is scaled to WIDTH pixels and numbered; COLUMNS per row. Qt only (offscreen).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

WIDTH = 380
COLUMNS = 3


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print(__doc__)
        return 2
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QColor, QFont, QGuiApplication, QImage, QPainter

    app = QGuiApplication.instance() or QGuiApplication([])  # noqa: F841 (fonts need it)
    files = sorted(Path(argv[0]).glob("*.png"))
    if not files:
        print(f"no PNG files in {argv[0]}")
        return 1
    tiles = [QImage(str(f)).scaledToWidth(WIDTH, Qt.SmoothTransformation) for f in files]
    height = max(t.height() for t in tiles)
    rows = (len(tiles) + COLUMNS - 1) // COLUMNS
    pad = 6
    sheet = QImage(COLUMNS * (WIDTH + pad) + pad, rows * (height + pad) + pad, QImage.Format_RGB32)
    sheet.fill(QColor(90, 90, 90))
    painter = QPainter(sheet)
    font = QFont()
    font.setPointSize(11)
    font.setBold(True)
    painter.setFont(font)
    for i, tile in enumerate(tiles):
        x = pad + (i % COLUMNS) * (WIDTH + pad)
        y = pad + (i // COLUMNS) * (height + pad)
        painter.drawImage(x, y, tile)
        painter.fillRect(x, y + height - 22, 30, 22, QColor(0, 0, 0, 170))
        painter.setPen(QColor(255, 255, 255))
        painter.drawText(x + 5, y + height - 6, str(i + 1))
    painter.end()
    out = Path(argv[1])
    out.parent.mkdir(parents=True, exist_ok=True)
    # 256 colours: a third of the bytes, and the text stays legible at this size.
    sheet.convertToFormat(QImage.Format_Indexed8, Qt.ThresholdDither).save(str(out), "PNG", 0)
    print(f"{out}: {len(files)} stops, {out.stat().st_size / 1e3:.0f} kB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
