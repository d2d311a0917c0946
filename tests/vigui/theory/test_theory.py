"""Theory panels: every formula typesets, the panel's images have the right sizes at
pixel ratios 1 and 2, sit on the text's baseline, follow the palette, fit the narrowest
panel, and a broken formula falls back to its LaTeX text."""
import logging
import re

import numpy as np
import pytest
from PySide6.QtCore import QByteArray, QRectF, Qt, QUrl
from PySide6.QtGui import QFont, QImage, QPainter, QTextDocument
from PySide6.QtSvg import QSvgRenderer

from vigui.theory import mathtex
from vigui.theory import view as theory
from vigui.theory.view import LayoutMetrics, Math, TheoryView, build_html, parse

pytestmark = pytest.mark.gui


@pytest.fixture(autouse=True)
def user_cache(tmp_path, monkeypatch):
    """Formulas rendered here go to a temporary cache, and no test sees another's."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(mathtex, "_memory", {})
    monkeypatch.setattr(theory, "_rasters", theory.OrderedDict())
    return tmp_path / "cache" / "vigui" / "math"


def sources():
    return {name: theory.theory_source(name) for name in theory.source_names()}


def metrics(ratio=1.0, width=400.0, colour="#000000", em=14.0, text=(13.0, 3.3, 3.5)):
    return LayoutMetrics(width=width, em=em, text=text, colour=colour, ratio=ratio, tag_width=36)


# -- the sources ---------------------------------------------------------------------------
def test_every_formula_of_every_source_typesets():
    """Each formula, each line-break form and each inline piece, rendered afresh."""
    assert set(sources()) >= {"info", "cavi", "vae"}
    failures, count = [], 0
    for name, source in sources().items():
        for piece in theory.formulas(source):
            forms = [piece.latex] + (mathtex.line_breaks(piece.latex) if piece.display
                                     else mathtex.inline_breaks(piece.latex))
            for form in dict.fromkeys(forms):
                count += 1
                try:
                    formula = mathtex.render(form, piece.display)
                except mathtex.MathError as exc:
                    failures.append(f"{name}: {form}: {exc}")
                    continue
                assert formula.width > 0 and formula.height > formula.depth >= 0
    assert not failures, "\n".join(failures)
    assert count > 200


def test_shipped_stores_hold_every_formula():
    """So a first start renders nothing. After editing a source: python -m vigui.theory.view"""
    stored = mathtex.shipped()
    for name, source in sources().items():
        missing = [latex for latex, display in theory.store_formulas(source)
                   if (latex, display) not in stored]
        assert not missing, (f"{name}: {len(missing)} formulas not in {name}.math.json "
                             f"(run: python -m vigui.theory.view {name}); first: {missing[0]}")


def test_lecture_numbering_and_slips():
    """(1)-(20) are the lecture's; each chapter's own labels carry its letter; slips named."""
    tags = {name: [m.tag for m in theory.formulas(src) if m.display and m.tag]
            for name, src in sources().items()}
    assert tags["info"][:8] == ["1", "2", "3", "4", "5", "6", "7", "8"]
    assert {"13", "16", "17", "18"} <= set(tags["vae"]) and {"14", "15"} <= set(tags["cavi"])
    for name, letter in (("info", "I"), ("cavi", "C"), ("vae", "V")):
        own = [t for t in tags[name] if not t.isdigit()]
        assert own and all(t.startswith(letter) for t in own)
        assert len(set(tags[name])) == len(tags[name]), f"{name}: a label twice"
    allnum = [int(t) for src in tags.values() for t in src if t.isdigit()]
    assert all(1 <= n <= 20 for n in allnum)
    text = "".join(sources().values())
    assert text.count('class="slip"') >= 6
    # eq. 13 with the log-derivative identity, eq. 17's labels, the binary entropy
    assert r"\nabla_\lambda q_\lambda(z) = q_\lambda(z)\, \nabla_\lambda \log q_\lambda(z)" in text
    assert r"\underbrace{q(z|x; \lambda)}_{\text{encoder}}" in text
    assert r"\underbrace{p(x|z; \theta)}_{\text{decoder}}" in text
    assert r"h(p) = -p \log p - (1 - p) \log (1 - p)" in text


def test_parse_splits_text_and_formulas():
    pieces = parse(r"<p>Costs \$5 when $a &lt; b$:</p>$$x = 1 \tag{V2}$$<p>$$y$$ end</p>")
    assert pieces[0] == "<p>Costs $5 when "
    assert pieces[1] == Math("a < b", display=False)
    assert pieces[3] == Math("x = 1", display=True, tag="V2")
    assert pieces[5] == Math("y", display=True, tag="")
    assert "".join(p for p in pieces if isinstance(p, str)).endswith(" end</p>")


# -- line breaks -------------------------------------------------------------------------
def test_line_breaks_cut_only_at_top_level_and_narrow_the_equation():
    latex = r"D(q \parallel p) = \log \frac{a + b}{c} + \big(x - y\big) - \tfrac{1}{2}"
    forms = mathtex.line_breaks(latex)
    assert forms[0] == latex
    assert forms[1].count(r"\\") == 2  # before + and - , not inside \frac or \big( )
    assert r"\frac{a + b}{c}" in forms[1] and r"\big(x - y\big)" in forms[1]
    widths = [mathtex.render(f).width for f in forms]
    assert widths[-1] < 0.6 * widths[0]
    assert mathtex.line_breaks(r"a = \frac{1}{2") == [r"a = \frac{1}{2"]  # unbalanced: as written


def test_inline_breaks_keep_operator_spacing():
    assert mathtex.inline_breaks(r"h(p) = -p \log p - (1 - p)") == [
        "h(p) ={}", r"-p \log p -{}", "(1 - p)"]
    assert mathtex.inline_breaks(r"\left[a + b\right]") == [r"\left[a + b\right]"]


# -- rendering ---------------------------------------------------------------------------
def _pixels(image: QImage) -> np.ndarray:
    image = image.convertToFormat(QImage.Format_ARGB32)
    ptr = image.constBits()
    return np.frombuffer(ptr, np.uint8).reshape(image.height(), image.bytesPerLine())[
        :, :image.width() * 4].reshape(image.height(), image.width(), 4).copy()


def _draw(svg: str, scale: float = 2.0) -> np.ndarray:
    renderer = QSvgRenderer(QByteArray(svg.encode()))
    size = renderer.defaultSize()
    image = QImage(round(size.width() * scale), round(size.height() * scale), QImage.Format_ARGB32)
    image.fill(Qt.white)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.Antialiasing)
    renderer.render(painter, QRectF(0, 0, image.width(), image.height()))
    painter.end()
    return _pixels(image)[..., :3].astype(int)


@pytest.mark.parametrize("latex", [
    r"\mathcal{L} = D_{\mathrm{KL}}\big(\underbrace{q(z|x)}_{\text{encoder}} \parallel p(z)\big)",
    r"\begin{aligned} a &= \sqrt{\tfrac{1}{2}} + \sum_{i=1}^n x_i \\ "
    r"&= \int \hat{x}\, \mathrm{d}x \end{aligned}",
])
def test_svg_for_qt_draws_what_ziamath_draws(qapp, latex):
    """The <symbol>/<use> rewrite for Qt matches ziamath's own SVG 1.1 pixel for pixel."""
    import ziamath

    ours = mathtex.render(latex)
    ziamath.config.svg2 = False
    try:
        theirs = ziamath.Latex(latex, size=mathtex.RENDER_PX).svg()
    finally:
        ziamath.config.svg2 = True
    a, b = _draw(ours.svg), _draw(theirs)
    assert a.shape == b.shape
    assert (a < 128).sum() > 500  # there is ink
    assert np.mean(np.abs(a - b)) < 1.0 and np.percentile(np.abs(a - b), 99.9) < 60


@pytest.mark.parametrize("ratio", [1.0, 2.0])
def test_images_have_the_expected_sizes(qapp, ratio):
    source = r"<p>The encoder $q(z|x; \lambda)$ and</p>$$\mathcal{L} = \int p(x|z)\, \mathrm{d}z \tag{17}$$"
    m = metrics(ratio=ratio)
    html, images, problems = build_html(parse(source), m)
    assert not problems and len(images) == 2
    inline = mathtex.typeset(r"q(z|x; \lambda)", display=False)
    display = mathtex.typeset(r"\mathcal{L} = \int p(x|z)\, \mathrm{d}z")
    for (url, image), formula in zip(images.items(), (inline, display), strict=False):
        width, height = (int(v) for v in re.search(
            rf'src="{url}" width="(\d+)" height="(\d+)"', html).groups())
        assert width == pytest.approx(formula.width * m.em, abs=1)
        assert height >= formula.height * m.em - 1  # inline ones are padded for the baseline
        assert image.devicePixelRatio() == ratio
        assert (image.width(), image.height()) == (round(width * ratio), round(height * ratio))
    assert "(17)" in html


@pytest.mark.parametrize("latex", [r"\mathrm{H}", r"\mathrm{H}_{\mathrm{H}_{i}}",
                                   r"\mathrm{H}\tfrac{1}{2}", r"\sum_{i,k}^{N} \mathrm{H}"])
def test_inline_formula_sits_on_the_text_baseline(qapp, latex):
    """Qt centres an inline image in its line; the padding must put the formula's
    baseline on the text's, for short, deep and tall formulas alike."""
    font = QFont()
    font.setPixelSize(20)
    m = metrics(em=22.0, text=theory._text_metrics(font))
    html, images, _ = build_html(parse(f"H${latex}$"), m)
    doc = QTextDocument()
    doc.setDefaultFont(font)
    doc.setDocumentMargin(0)
    for url, image in images.items():
        doc.addResource(QTextDocument.ImageResource, QUrl(url), image)
    doc.setHtml(html)
    canvas = QImage(300, 120, QImage.Format_ARGB32)
    canvas.fill(Qt.white)
    painter = QPainter(canvas)
    doc.drawContents(painter)
    painter.end()
    ink = _pixels(canvas)[..., :3].min(axis=2) < 100
    columns = np.flatnonzero(ink.any(axis=0))
    gap = np.flatnonzero(np.diff(columns) > 1)[0]  # between the text H and the math H
    text_bottom = np.flatnonzero(ink[:, columns[:gap + 1]].any(axis=1)).max()
    math_h = columns[gap + 1:gap + 8]  # the upright H of the formula (its left stem)
    if latex.startswith(r"\sum"):
        math_h = columns[-8:]
    math_bottom = np.flatnonzero(ink[:, math_h].any(axis=1)).max()
    assert abs(int(text_bottom) - int(math_bottom)) <= 1


def test_formulas_follow_the_palette(qapp):
    _, images, _ = build_html(parse(r"$\mathbf{H}$"), metrics(colour="#d04010", em=60.0))
    pixels = _pixels(next(iter(images.values())))
    inked = pixels[pixels[..., 3] == 255]  # opaque pixels: BGRA in memory
    assert len(inked) > 10
    assert np.all(np.abs(inked[:, :3].astype(int) - [0x10, 0x40, 0xD0]) <= 1)


def test_broken_formula_shows_its_latex_and_a_warning(qtbot, caplog):
    view = TheoryView()
    qtbot.addWidget(view)
    view.resize(400, 600)
    view.show()
    with caplog.at_level(logging.WARNING, logger="vigui.theory"):
        view.set_source(r"<p>Fine $a + b$, broken $\frac{a}{$ and $\nosuchcommand x$.</p>"
                        r"$$\sum_i x_i^ \tag{3}$$<p>after</p>")
    text = view.toPlainText()
    assert r"\frac{a}{" in text and r"\nosuchcommand x" in text and r"\sum_i x_i^" in text
    assert text.count("⚠") == 3 and "(3)" in text and "after" in text
    assert len(view.problems) == 3
    assert "unknown command \\nosuchcommand" in " ".join(view.problems)
    assert len([r for r in caplog.records if r.name == "vigui.theory"]) == 3
    assert view.toHtml().count('src="math:') == 2  # the good formula: a +, b


def test_missing_source_says_so(qtbot, caplog):
    with caplog.at_level(logging.WARNING, logger="vigui.theory"):
        view = TheoryView("no_such_chapter")
    qtbot.addWidget(view)
    view.show()
    assert "not found" in view.toPlainText() and view.problems
    assert "no_such_chapter.html not found" in caplog.text


def test_rendered_once_then_read_from_the_user_cache(qapp, user_cache, monkeypatch):
    latex = r"\alpha_{\text{never shipped}} + 1"
    first = mathtex.typeset(latex)
    assert len(list(user_cache.rglob("*.json"))) == 1
    monkeypatch.setattr(mathtex, "_memory", {})
    monkeypatch.setattr(mathtex, "render", lambda *a: pytest.fail("rendered twice"))
    assert mathtex.typeset(latex) == first


@pytest.mark.parametrize("name", ["info", "cavi", "vae"])
def test_panel_at_its_narrowest_fits_and_is_complete(qtbot, name):
    view = TheoryView(name)
    qtbot.addWidget(view)
    view.resize(theory.MIN_WIDTH, 700)
    view.show()
    qtbot.waitUntil(lambda: view._metrics is not None)
    assert not view.problems
    room = view.metrics().width
    html = view.toHtml()
    kinds = [m.display for m in theory.formulas(theory.theory_source(name))
             for _ in range(1 if m.display else len(mathtex.inline_breaks(m.latex)))]
    for url, display in zip(view._images, kinds, strict=False):
        width = int(re.search(rf'src="{url}" width="(\d+)"', html).group(1))
        if display:
            assert width <= room + 1, f"{name}: {url} is {width} px wide, room {room:.0f}"
    count = sum(1 if m.display else len(mathtex.inline_breaks(m.latex))
                for m in theory.formulas(theory.theory_source(name)))
    assert len(view._images) == count
    qtbot.waitUntil(lambda: view.horizontalScrollBar().maximum() == 0, timeout=3000)  # nothing overflows


def test_panel_relays_out_when_resized(qtbot):
    view = TheoryView("cavi")
    qtbot.addWidget(view)
    view.resize(700, 600)
    view.show()
    qtbot.waitUntil(lambda: view._metrics is not None)
    wide = view.toHtml().count("<img")
    view.resize(theory.MIN_WIDTH, 600)
    qtbot.waitUntil(lambda: view._metrics.width < 300)
    assert view.toHtml().count("<img") == wide  # same formulas, other line-break forms
    qtbot.waitUntil(lambda: view.horizontalScrollBar().maximum() == 0, timeout=3000)


def test_zoomed_panels_never_scroll_sideways(qtbot):
    """Ctrl+plus three times on the window (a class's projector): every chapter's panel at
    its narrowest wraps or scales its formulas to its width, no sideways scroll bar."""
    from PySide6.QtWidgets import QApplication

    from vigui.window import MainWindow

    window = MainWindow(fresh=True, open_initial=False)
    qtbot.addWidget(window)
    window.show()
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=5_000)
    try:
        for _ in range(3):
            qtbot.keyClick(window, Qt.Key_Plus, Qt.ControlModifier)
        assert window.zoom == pytest.approx(1.4)
        for name in theory.source_names():
            view = TheoryView(name)
            qtbot.addWidget(view)
            view.resize(theory.MIN_WIDTH, 700)
            view.show()
            qtbot.waitUntil(lambda v=view: v._metrics is not None)
            assert view._metrics.em > 1.3 * 9  # typeset at the zoomed font
            assert not view.problems, view.problems
            line = view.viewport().width() - 2 * view.document().documentMargin()
            for url, image in view._images.items():
                assert image.width() / image.devicePixelRatio() <= line, (name, url)
            qtbot.waitUntil(lambda v=view: v.horizontalScrollBar().maximum() == 0, timeout=3000)
            view.close()
    finally:
        window.set_zoom(1.0)
        window.close()
