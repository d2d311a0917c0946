r"""Theory panels: the lecture's mathematics typeset beside each chapter.

**How a chapter gets its panel.** A page names its theory source in the class attribute
``theory`` (default: its ``page_id``); :class:`vigui.pages.base.Page` shows it in a
:class:`TheoryView`. The source is ``resources/theory/<theory>.html`` (shipped in the
wheel as ``vigui.resources``), read by :func:`theory_source`.

**The source format.** Qt's rich-text HTML subset (``<h3>``, ``<h4>``, ``<p>``, ``<ul>``,
``<b>``, ``<a name=...>``), plus LaTeX between dollar signs:

* ``$...$`` inline math, typeset on the text's baseline: ``the encoder $q(z|x; \lambda)$``.
* ``$$...$$`` a displayed equation, centred on its own line. Put it between paragraphs
  (not inside ``<p>`` or ``<li>``). ``\tag{17}`` inside it prints ``(17)`` at the right:
  numbers (1)-(20) are the lecture's; an equation of the app's own gets a letter of its
  chapter and a number, e.g. ``\tag{V1}``, ``\tag{C2}``; no ``\tag``, no number.
* ``\begin{aligned} ... \end{aligned}`` with ``&`` and ``\\`` sets the lines of a long
  derivation. In a narrow panel a displayed equation is also broken automatically
  before its top-level ``=`` (then ``+``/``-``), and scaled down if still too wide.
* ``\$`` is a literal dollar sign. The LaTeX is read as written (``<`` needs no escape;
  ``&lt;`` also works).
* ``<p class="slip">Lecture slip: ...</p>`` marks a one-line correction of the lecture.

Example (``resources/theory/<page>.html``)::

    <h4>The loss</h4>
    <p>The encoder $q(z|x; \lambda)$ and the decoder $p(x|z; \theta)$ meet in</p>
    $$\mathcal{L}(x; \theta, \lambda) = D_{\mathrm{KL}}\big(q(z|x; \lambda) \parallel p(z)\big)
      - \mathbb{E}_{z \sim q} \log p(x|z; \theta) \tag{17}$$

Every formula is rendered once (:mod:`vigui.theory.mathtex`, cached in memory and in the user
cache directory) and drawn in the palette's text colour at the screen's pixel ratio. A
formula that cannot be typeset shows as its LaTeX text with a warning sign, and is
reported once through the ``vigui.theory`` logger and in :attr:`TheoryView.problems`;
tests/test_theory.py typesets every formula of every source.
"""
from __future__ import annotations

import html
import logging
import math
import re
from collections import OrderedDict
from dataclasses import dataclass

from PySide6.QtCore import QEvent, QRectF, Qt, QTimer, QUrl
from PySide6.QtGui import QFontMetricsF, QImage, QPainter, QPalette, QTextOption
from PySide6.QtWidgets import QStyle, QTextBrowser

from vigui import resources_dir
from vigui.theory import mathtex

__all__ = ["Math", "parse", "theory_source", "TheoryView", "build_html", "MIN_WIDTH"]

log = logging.getLogger("vigui.theory")

#: math em relative to the text's pixel size (STIX's x-height is smaller than the UI font's)
MATH_SCALE = 1.1
#: a displayed equation is scaled down to fit beside its number, but not below this;
#: smaller still, its number goes on a line of its own and it is scaled to the full width
MIN_SCALE = 0.7
#: the panel's narrowest width in pixels (the page's splitter cannot make it narrower)
MIN_WIDTH = 220
#: pixels between a displayed equation and its number
TAG_GAP = 6
#: a list's indentation per level (QTextDocument's indentWidth, 40 px, and the bullet)
LIST_INDENT = 44

STYLE = """
p.slip { font-style: italic; margin-left: 8px; }
table.eq { margin-top: 4px; margin-bottom: 4px; }
"""


@dataclass(frozen=True)
class Math:
    """One formula of a theory source."""

    latex: str
    display: bool
    tag: str = ""  # "17" for \tag{17}


_DOLLAR = "\x00"  # stands for \$ while the source is split
_MATH = re.compile(r"\$\$(.+?)\$\$|\$(.+?)\$", re.S)
_TAG = re.compile(r"\\tag\*?\{([^{}]*)\}")


def parse(source: str) -> list[str | Math]:
    """Split a theory source into HTML strings and :class:`Math` items, in order."""
    text = source.replace(r"\$", _DOLLAR)
    pieces: list[str | Math] = []
    position = 0
    for match in _MATH.finditer(text):
        if match.start() > position:
            pieces.append(text[position:match.start()].replace(_DOLLAR, "$"))
        display = match.group(1) is not None
        latex = html.unescape((match.group(1) if display else match.group(2)).replace(_DOLLAR, r"\$"))
        tag = ""
        if display:
            tags = _TAG.findall(latex)
            tag = tags[0].strip() if tags else ""
            latex = _TAG.sub("", latex)
        pieces.append(Math(" ".join(latex.split()), display, tag))
        position = match.end()
    if position < len(text):
        pieces.append(text[position:].replace(_DOLLAR, "$"))
    return pieces


def formulas(source: str) -> list[Math]:
    """The formulas of a theory source."""
    return [p for p in parse(source) if isinstance(p, Math)]


def theory_source(name: str) -> str:
    """The theory source ``theory/<name>.html`` of the app's resources.

    Raises FileNotFoundError when there is none.
    """
    resource = resources_dir() / "theory" / f"{name}.html"
    try:
        return resource.read_text(encoding="utf-8")
    except OSError as exc:
        raise FileNotFoundError(f"theory text {name}.html not found") from exc


# -- layout -------------------------------------------------------------------------------
@dataclass(frozen=True)
class LayoutMetrics:
    """What the HTML depends on: sizes in logical pixels, the colour, the pixel ratio."""

    width: float          # room for a displayed equation (tag column excluded)
    em: float             # math font size
    text: tuple[float, float, float]  # the text font's ascent, descent, half x-height
    colour: str
    ratio: float          # device pixel ratio
    tag_width: int

    @property
    def line_width(self) -> float:
        """Room for a whole line: an inline formula, or an equation whose number moved
        below it."""
        return self.width + self.tag_width  # the gap's pixels left for rounding


def build_html(pieces: list[str | Math], metrics: LayoutMetrics) -> tuple[str, dict[str, QImage], list[str]]:
    """The panel's HTML, its images by URL, and the formulas that could not be typeset."""
    parts, images, problems = [], {}, []
    lists = 0  # how deep in <ul>/<ol> the text is: each level indents it
    for index, piece in enumerate(pieces):
        if isinstance(piece, str):
            parts.append(piece)
            lower = piece.lower()
            lists += sum(lower.count(f"<{t}") - lower.count(f"</{t}") for t in ("ul", "ol"))
            continue
        try:
            typeset = _choose(piece, metrics)
        except mathtex.MathError as exc:
            fence = "$$" if piece.display else "$"
            problems.append(f"{fence}{piece.latex}{fence}: {exc}")
            parts.append(_fallback(piece, str(exc), metrics))
            continue
        tags = []
        for formula, scale in typeset:
            line = metrics.line_width - max(0, lists) * LIST_INDENT
            if not piece.display and formula.width * metrics.em > line:
                # An inline piece longer than a line (a zoomed, narrow panel): scaled to
                # fit, or the panel would scroll sideways.
                scale = line / (formula.width * metrics.em)
            url = f"math:{len(images)}"
            images[url], width, height = _raster(formula, metrics.em * scale, metrics, piece.display)
            tags.append(f'<img src="{url}" width="{width}" height="{height}"'
                        + (">" if piece.display else ' style="vertical-align: middle">'))
        if piece.display:
            beside = typeset[0][1] >= MIN_SCALE and typeset[0][0].width * metrics.em * \
                typeset[0][1] <= metrics.width + 1
            parts.append(_display_html(tags[0], piece.tag, metrics, beside))
            continue
        # A word joiner keeps the formula with the text it touches ("$x$," or "($p$)").
        before = parts[-1][-1:] if parts else ""
        following = pieces[index + 1] if index + 1 < len(pieces) else None
        after = following[:1] if isinstance(following, str) else ""
        glue = ["\u2060" if c and not c.isspace() and c not in "<>" else "" for c in (before, after)]
        parts.append(glue[0] + "".join(tags) + glue[1])
    return "".join(parts), images, problems


def _choose(piece: Math, metrics: LayoutMetrics) -> list[tuple[mathtex.Formula, float]]:
    """The images of a formula, each with its scale.

    Inline: one per piece between the places the text may wrap. Displayed: the first
    line-break form that fits the width, else the narrowest one, scaled down to fit.
    """
    if not piece.display:
        try:
            return [(mathtex.typeset(p, display=False), 1.0)
                    for p in mathtex.inline_breaks(piece.latex)]
        except mathtex.MathError:
            return [(mathtex.typeset(piece.latex, display=False), 1.0)]  # the error, if any
    room = metrics.width / metrics.em
    best = None
    for i, form in enumerate(mathtex.line_breaks(piece.latex)):
        try:
            formula = mathtex.typeset(form, display=True)
        except mathtex.MathError:
            if i == 0:
                raise  # the formula as written is wrong; a failed break only is skipped
            continue
        if formula.width <= room:
            return [(formula, 1.0)]
        if best is None or formula.width < best.width:
            best = formula
    if room / best.width >= MIN_SCALE:
        return [(best, room / best.width)]
    # Too small beside its number: the number goes below and the equation takes the
    # whole line, scaled to fit it (never wider than the panel: no sideways scrolling).
    return [(best, min(1.0, metrics.line_width / metrics.em / best.width))]


def _raster(formula: mathtex.Formula, em: float, metrics: LayoutMetrics, display: bool):
    """The formula drawn in the text colour at the pixel ratio (kept for reuse).

    Inline formulas are padded (:func:`_padding`) so that their baseline falls on the text's.
    Returns (image, logical width, logical height).
    """
    key = (formula.body, round(em, 2), display, metrics.text, metrics.colour, metrics.ratio)
    found = _rasters.get(key)
    if found is not None:
        _rasters.move_to_end(key)
        return found
    from PySide6.QtCore import QByteArray
    from PySide6.QtSvg import QSvgRenderer

    width, height, depth = formula.width * em, formula.height * em, formula.depth * em
    pad_top = pad_bottom = 0.0
    if not display:
        pad_top, pad_bottom = _padding(height - depth, depth, *metrics.text)
    logical_w = math.ceil(width)
    logical_h = math.ceil(height + pad_top + pad_bottom)
    ratio = metrics.ratio
    image = QImage(max(1, round(logical_w * ratio)), max(1, round(logical_h * ratio)),
                   QImage.Format_ARGB32_Premultiplied)
    image.fill(Qt.transparent)
    svg = formula.svg.replace('fill="black"', f'fill="{metrics.colour}"')  # ziamath's only colour
    painter = QPainter(image)
    painter.setRenderHint(QPainter.Antialiasing)
    QSvgRenderer(QByteArray(svg.encode("utf-8"))).render(
        painter, QRectF(0, pad_top * ratio, width * ratio, height * ratio))
    painter.end()
    image.setDevicePixelRatio(ratio)
    _rasters[key] = found = (image, logical_w, logical_h)
    if len(_rasters) > _RASTERS_KEPT:
        _rasters.popitem(last=False)
    return found


#: rasters by (svg, size, kind, text metrics, colour, ratio), least recently used first
_rasters: OrderedDict = OrderedDict()
_RASTERS_KEPT = 1000


def _display_html(img: str, tag: str, metrics: LayoutMetrics, beside: bool = True) -> str:
    label = f"({html.escape(tag)})" if tag else ""
    if not beside:  # the equation needs the whole line: its number under it
        return (f'<table class="eq" width="100%" cellspacing="0" cellpadding="0">'
                f'<tr><td align="center">{img}</td></tr>'
                f'<tr><td align="right">{label}</td></tr></table>')
    return (f'<table class="eq" width="100%" cellspacing="0" cellpadding="0"><tr>'
            f'<td align="center" valign="middle">{img}</td>'
            f'<td width="{metrics.tag_width}" align="right" valign="middle">{label}</td>'
            f'</tr></table>')


def _fallback(piece: Math, reason: str, metrics: LayoutMetrics) -> str:
    """The LaTeX as text with a warning: never a blank."""
    warning = f'<span style="color: #c62828;" title="{html.escape(reason)}">⚠</span>'
    code = f"<code>{html.escape(piece.latex)}</code>"
    if not piece.display:
        return f"{warning}&nbsp;{code}"
    return _display_html(f"{warning} {code}", piece.tag, metrics)


# -- the widget ---------------------------------------------------------------------------
class TheoryView(QTextBrowser):
    """A chapter's theory panel: its source typeset, re-laid out as width, palette and
    pixel ratio change.

    ``TheoryView(name)`` loads ``theory/<name>.html``; :meth:`set_source` shows any text
    in the same format. :attr:`problems` lists what could not be shown.
    """

    def __init__(self, name: str | None = None, parent=None):
        super().__init__(parent)
        self.setOpenExternalLinks(True)
        self.setMinimumWidth(MIN_WIDTH)
        # Wrap between words (a formula glued to its punctuation moves as one); only what
        # is wider than a whole line (zoomed, a narrow panel) is broken inside.
        self.setWordWrapMode(QTextOption.WrapAtWordBoundaryOrAnywhere)
        self.document().setDefaultStyleSheet(STYLE)
        self.problems: list[str] = []
        self.name = name or ""
        self._pieces: list[str | Math] = []
        self._images: dict[str, QImage] = {}
        self._metrics: LayoutMetrics | None = None
        self._anchor = ""  # asked for before the text was typeset: scrolled to once it is
        self._relayout = QTimer(self, singleShot=True, interval=60)
        self._relayout.timeout.connect(self.refresh)
        if name:
            self.load(name)

    def load(self, name: str) -> None:
        """Show ``theory/<name>.html``; a missing file shows (and logs) a note instead."""
        self.name = name
        try:
            source = theory_source(name)
        except FileNotFoundError as exc:
            log.warning("vigui: %s", exc)
            source = f"<p><i>Theory text {html.escape(name)}.html not found.</i></p>"
            self.set_source(source)
            self.problems.append(str(exc))
            return
        self.set_source(source)

    def set_source(self, source: str) -> None:
        """Show a theory source (typeset now if shown, else when first shown)."""
        self._pieces = parse(source)
        self._metrics = None
        if self.isVisible():
            self.refresh()

    def refresh(self) -> None:
        """Typeset again if width, font, palette or pixel ratio changed since last time."""
        metrics = self.metrics()
        if metrics == self._metrics:
            return
        bar = self.verticalScrollBar()
        at = bar.value() / bar.maximum() if bar.maximum() > 0 else 0.0
        text, images, problems = build_html(self._pieces, metrics)
        for problem in problems:
            if problem not in self.problems:
                log.warning("vigui: theory %s: %s", self.name or "(text)", problem)
        self.problems = [p for p in self.problems if p.startswith("theory text")] + problems
        self._images = images
        self._metrics = metrics
        self.setHtml(text)
        if self._anchor:
            super().scrollToAnchor(self._anchor)
            self._anchor = ""
        elif at:
            bar.setValue(round(at * bar.maximum()))

    def scrollToAnchor(self, name: str) -> None:
        """Scroll to ``<a name=...>``; before the panel is first typeset (a page built
        off screen, e.g. by a tour stop) the scroll happens when it is."""
        if self._metrics is None:
            self._anchor = name
        else:
            super().scrollToAnchor(name)

    def metrics(self) -> LayoutMetrics:
        fm = QFontMetricsF(self.font())
        em = self.fontInfo().pixelSize() * MATH_SCALE
        tag_width = math.ceil(fm.horizontalAdvance("(C22)")) + 4
        # The vertical scroll bar is counted as shown, so that it appearing cannot
        # change the layout that made it appear.
        bar = self.style().pixelMetric(QStyle.PM_ScrollBarExtent, None, self)
        margin = self.document().documentMargin()
        width = self.width() - 2 * self.frameWidth() - bar - 2 * margin - tag_width - TAG_GAP
        return LayoutMetrics(width=max(40.0, width), em=em, text=_text_metrics(self.font()),
                       colour=self.palette().color(QPalette.Text).name(),
                       ratio=self.devicePixelRatioF(), tag_width=tag_width)

    def loadResource(self, kind: int, url: QUrl):
        if url.scheme() == "math":
            image = self._images.get(url.toString())
            if image is not None:
                return image
        return super().loadResource(kind, url)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._relayout.start()

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.PaletteChange, QEvent.FontChange, QEvent.StyleChange):
            self._relayout.start()

    def event(self, event) -> bool:
        if event.type() == _DPR_CHANGE:
            self._relayout.start()
        return super().event(event)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.refresh()  # the size it is shown at, before the first paint


_DPR_CHANGE = getattr(QEvent, "DevicePixelRatioChange", QEvent.ScreenChangeInternal)
def _text_metrics(font) -> tuple[float, float, float]:
    """(ascent, descent, half x-height) of ``font`` as Qt's text layout uses them."""
    from PySide6.QtGui import QFontMetrics

    fm = QFontMetricsF(font)
    return fm.ascent(), fm.descent(), QFontMetrics(font).xHeight() / 2


def _padding(ascent: float, depth: float, text_ascent: float, text_descent: float,
             half_x: float) -> tuple[float, float]:
    """Top and bottom padding that put an inline formula's baseline on the text's.

    Qt's rich text gives a ``vertical-align: middle`` image of height H the ascent
    (H + half_x) / 2 and descent (H - half_x) / 2, and draws it centred in its line,
    whose ascent and descent are the larger of the text's and the image's. The image's
    centre then lies c(H) = (A - D) / 2 above the baseline, and the formula's baseline
    is on the text's when (ascent + top) - (depth + bottom) = 2 c(H). That difference
    grows with the top padding and falls with the bottom one, so one of them solves it
    by bisection (tests/test_theory.py checks the result in pixels).
    """
    def error(top: float, bottom: float) -> float:
        height = ascent + depth + top + bottom
        line_ascent = max(text_ascent, (height + half_x) / 2)
        line_descent = max(text_descent, (height - half_x) / 2)
        return (ascent + top) - (depth + bottom) - (line_ascent - line_descent)

    grow_top = error(0.0, 0.0) < 0
    lo, hi = 0.0, 2 * (ascent + depth + text_ascent + text_descent) + 4 * half_x
    for _ in range(40):
        mid = (lo + hi) / 2
        e = error(mid, 0.0) if grow_top else -error(0.0, mid)
        lo, hi = (mid, hi) if e < 0 else (lo, mid)
    return (hi, 0.0) if grow_top else (0.0, hi)


# -- the pre-rendered stores ----------------------------------------------------------------
def store_formulas(source: str) -> list[tuple[str, bool]]:
    """What a source's panel may typeset: its inline formulas cut where text may wrap,
    and each displayed equation in every line-break form."""
    items = []
    for piece in formulas(source):
        if piece.display:
            items += [(form, True) for form in mathtex.line_breaks(piece.latex)]
        else:
            items += [(form, False) for form in mathtex.inline_breaks(piece.latex)]
    return items


def source_names() -> list[str]:
    """The names of every theory source in the app's resources."""
    folder = resources_dir() / "theory"
    return sorted(r.name[:-5] for r in folder.iterdir() if r.name.endswith(".html"))


def prerender(names: list[str] | None = None) -> int:
    """Write ``resources/theory/<name>.math.json`` for each source; 1 if a formula failed."""
    failed = 0
    for name in names or source_names():
        items = store_formulas(theory_source(name))
        errors = mathtex.write_store(mathtex.store_path(name), items)
        print(f"{name}: {len(items) - len(errors)} formulas -> {mathtex.store_path(name)}")
        for error in errors:
            print(f"  cannot typeset {error}")
        failed |= bool(errors)
    return failed


if __name__ == "__main__":  # python -m vigui.theory.view [NAME ...]
    import sys

    sys.exit(prerender(sys.argv[1:] or None))
