"""LaTeX to SVG for the theory panels: ziamath, cached in memory and on disk.

``typeset(latex, display)`` returns a :class:`Formula`: a black SVG of the formula with
its size in em (``width``, ``height``) and ``depth``, the part below the baseline.
Rendering costs 2-40 ms a formula; the result is kept in memory and in the user cache
(``$XDG_CACHE_HOME/vigui/math`` or ``~/.cache/vigui/math``), keyed by the LaTeX and the
renderer's version, so each formula is rendered once per machine. A formula that
cannot be typeset raises :class:`MathError` naming the problem.

``line_breaks(latex)`` gives the forms a displayed equation may take in a narrow panel:
as written, then broken before each top-level relation (``=``, ``\\le``, ``\\propto``,
...), then also before each top-level binary ``+`` and ``-``, each as an ``aligned``
block. Nothing inside braces, brackets, parentheses or environments is broken.

No Qt here: the theory panel (vigui/widgets/theory.py) draws the SVG.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Formula", "MathError", "typeset", "render", "line_breaks", "inline_breaks",
           "cache_dir", "shipped",
           "write_store", "store_path", "RENDER_PX"]

#: ziamath lays formulas out at this many pixels per em; sizes are stored in em.
RENDER_PX = 20.0
#: bumped when the output for the same LaTeX changes (part of the cache key)
FORMAT = 3


class MathError(ValueError):
    """LaTeX that cannot be typeset; the message says why."""


@dataclass(frozen=True)
class Formula:
    """A typeset formula: black SVG 1.1, sizes in em (1 em = the math font size).

    ``body`` draws each glyph with ``<use xlink:href="#id">``; ``glyphs`` holds those
    outlines once, so that a store shares them between formulas.
    """

    body: str
    glyphs: tuple[tuple[str, str], ...]  # (id, outline markup)
    width: float
    height: float
    depth: float  # below the baseline, included in height

    @property
    def svg(self) -> str:
        """The standalone SVG: the body with the outlines it uses in its <defs>."""
        defs = "<defs>" + "".join(f'<g id="{gid}">{markup}</g>' for gid, markup in self.glyphs) + "</defs>"
        head = self.body.index(">") + 1
        return self.body[:head] + defs + self.body[head:]

    def to_json(self, glyphs: bool = True) -> dict:
        data = {"body": self.body, "width": self.width, "height": self.height, "depth": self.depth}
        if glyphs:
            data["glyphs"] = dict(self.glyphs)
        return data

    @classmethod
    def from_json(cls, d: dict, glyphs: dict[str, str] | None = None) -> Formula:
        """From :meth:`to_json`; ``glyphs``: a store's shared table instead of the item's."""
        table = d["glyphs"] if glyphs is None else glyphs
        body = str(d["body"])
        ids = dict.fromkeys(re.findall(r'xlink:href="#([^"]+)"', body))
        return cls(body, tuple((gid, str(table[gid])) for gid in ids),
                   float(d["width"]), float(d["height"]), float(d["depth"]))


_memory: dict[tuple[str, bool], Formula | MathError] = {}
_shipped: dict[tuple[str, bool], Formula] | None = None
_renderer_version: str | None = None


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/vigui/math`` or ``~/.cache/vigui/math``."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "vigui" / "math"


def typeset(latex: str, display: bool = True) -> Formula:
    """The formula for ``latex`` (display or inline style), rendered at most once.

    Looks in memory, then in the pre-rendered stores shipped with the app, then in the
    user cache; renders (and caches) only what none of them has. Raises
    :class:`MathError` for LaTeX that cannot be typeset.
    """
    key = (latex, bool(display))
    found = _memory.get(key)
    if found is None:
        found = shipped().get(key)
    if found is None:
        path = _user_cache() / f"{_digest(latex, display)}.json"
        found = _read(path, latex, display)
        if found is None:
            try:
                found = render(latex, display)
            except MathError as exc:
                found = exc
            else:
                _write(path, latex, display, found)
    _memory[key] = found
    if isinstance(found, MathError):
        raise found
    return found


# -- the pre-rendered stores ------------------------------------------------------------
STORE_SUFFIX = ".math.json"


def store_path(name: str):
    """The store of theory source ``name``: ``resources/theory/<name>.math.json``."""
    from vigui import resources_dir

    return resources_dir() / "theory" / f"{name}{STORE_SUFFIX}"


def shipped() -> dict[tuple[str, bool], Formula]:
    """Every formula of the stores shipped in resources/theory, read once."""
    global _shipped
    if _shipped is None:
        from vigui import resources_dir

        _shipped = {}
        folder = resources_dir() / "theory"
        for resource in sorted(folder.iterdir(), key=lambda r: r.name):
            if resource.name.endswith(STORE_SUFFIX):
                try:
                    _shipped.update(read_store(resource.read_bytes()))
                except (OSError, ValueError, KeyError, TypeError):
                    continue  # a damaged store costs a re-render, never a failure
    return _shipped


def read_store(data: bytes) -> dict[tuple[str, bool], Formula]:
    store = json.loads(data.decode("utf-8"))
    if store.get("format") != FORMAT:
        return {}
    glyphs = store["glyphs"]
    return {(item["latex"], bool(item["display"])): Formula.from_json(item, glyphs)
            for item in store["formulas"]}


def write_store(path: Path, formulas: list[tuple[str, bool]]) -> list[str]:
    """Render ``(latex, display)`` afresh into the store at ``path``; returns the errors.

    Plain JSON, one formula a line in a fixed order: it loads in milliseconds (the
    wheel compresses it) and a changed formula changes one line in git.
    """
    items, errors, glyphs = [], [], {}
    for latex, display in dict.fromkeys(formulas):
        try:
            formula = render(latex, display)
        except MathError as exc:
            errors.append(f"{latex}: {exc}")
            continue
        glyphs.update(formula.glyphs)
        items.append({"latex": latex, "display": display, **formula.to_json(glyphs=False)})
    items.sort(key=lambda item: (item["display"], item["latex"]))
    lines = [json.dumps(item, ensure_ascii=False) for item in items]
    table = [f"{json.dumps(gid)}: {json.dumps(glyphs[gid])}" for gid in sorted(glyphs)]
    header = json.dumps({"format": FORMAT, "renderer": _version()})[:-1]
    Path(path).write_text(header + ', "glyphs": {\n' + ",\n".join(table) + '\n}, "formulas": [\n'
                          + ",\n".join(lines) + "\n]}\n", encoding="utf-8")
    global _shipped
    _shipped = None
    return errors


# -- the user cache ---------------------------------------------------------------------
def _user_cache() -> Path:
    """This renderer's folder of the user cache (another version's folder is removed)."""
    return cache_dir() / ("v" + hashlib.sha256(f"{FORMAT}|{_version()}".encode()).hexdigest()[:12])


def _digest(latex: str, display: bool) -> str:
    return hashlib.sha256(f"{int(display)}|{latex}".encode()).hexdigest()[:24]


def _version() -> str:
    """ziamath's and latex2mathml's versions, without importing them (that costs ~150 ms)."""
    global _renderer_version
    if _renderer_version is None:
        from importlib.metadata import PackageNotFoundError, version

        try:
            _renderer_version = f"ziamath {version('ziamath')}, latex2mathml {version('latex2mathml')}"
        except PackageNotFoundError:
            _renderer_version = "missing"
    return _renderer_version


def _read(path: Path, latex: str, display: bool) -> Formula | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("latex") != latex or data.get("display") != bool(display):
            return None  # a hash collision or a foreign file: render again
        return Formula.from_json(data)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write(path: Path, latex: str, display: bool, formula: Formula) -> None:
    """Write atomically; a read-only or full disk only costs the next start a re-render."""
    data = {"latex": latex, "display": bool(display), **formula.to_json()}
    try:
        if not path.parent.is_dir():
            path.parent.mkdir(parents=True)
            for old in path.parent.parent.glob("v" + "[0-9a-f]" * 12):
                if old != path.parent:
                    shutil.rmtree(old, ignore_errors=True)  # an older renderer's formulas
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f)
        os.replace(tmp, path)
    except OSError:
        pass


def render(latex: str, display: bool = True) -> Formula:
    """Typeset ``latex`` with ziamath now, bypassing every cache."""
    latex = latex.replace(r"\allowbreak", " ")  # a place to break: see line_breaks
    if not display:  # ziamath stretches a bare inline integral to its row's parentheses
        latex = re.sub(r"\\(int|iint|oint)(?![A-Za-z])", r"{\\\1}", latex)
    _check_braces(latex)
    try:
        import ziamath
    except ImportError as exc:  # pragma: no cover - a broken install
        raise MathError(f"the math renderer is not installed ({exc.name})") from exc
    ziamath.config.svg2 = True  # glyphs as <symbol>s, each outline once
    ziamath.config.precision = 2  # 1/100 px at RENDER_PX: finer than any screen, smaller SVG
    try:
        math = ziamath.Latex(latex, size=RENDER_PX, inline=not display)
        svg = math.svg()
    except Exception as exc:  # latex2mathml's errors share no base class but Exception
        raise MathError(f"cannot typeset ({type(exc).__name__}) {exc}".rstrip()) from exc
    unknown = sorted(set(re.findall(r">\s*(\\[A-Za-z]+)\s*<", math.mathmlstr())))
    if unknown:
        raise MathError(f"unknown command {', '.join(unknown)}")
    bbox, margin = math.node.bbox, math.margin
    width = bbox.xmax - bbox.xmin + 2 * margin
    height = bbox.ymax - bbox.ymin + 2 * margin
    depth = -bbox.ymin + margin
    body, glyphs = _svg11(svg)
    return Formula(body, glyphs, width / RENDER_PX, height / RENDER_PX, depth / RENDER_PX)


_SYMBOL = re.compile(r'<symbol id="([^"]+)" viewBox="([^"]*)"\s*(?:/>|>(.*?)</symbol>)', re.S)
_USE = re.compile(r"<use [^>]*?/>")


def _svg11(svg: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """ziamath's SVG 2 (glyphs as ``<symbol>``, drawn by ``<use href>``), rewritten for
    Qt's SVG 1.1 renderer, which draws those in pieces: each glyph becomes a plain group
    drawn by ``<use xlink:href>`` with the symbol's viewport mapping as a transform."""
    boxes, outlines = {}, {}
    for gid, box, markup in _SYMBOL.findall(svg):
        boxes[gid] = [float(v) for v in box.split()]
        outlines[gid] = markup.strip()

    def use(match) -> str:
        attrs = dict(re.findall(r'([\w:-]+)="([^"]*)"', match.group(0)))
        gid = attrs["href"].lstrip("#")
        vx, vy, vw, vh = boxes[gid]
        if not outlines[gid] or vh == 0:
            return ""  # an empty glyph (a space)
        x, y, w, h = (float(attrs[k]) for k in ("x", "y", "width", "height"))
        scale = h / vh if vw == 0 else min(w / vw, h / vh)  # preserveAspectRatio: xMidYMid meet
        dx = x + (w - vw * scale) / 2 - vx * scale
        dy = y + (h - vh * scale) / 2 - vy * scale
        return (f'<use xlink:href="#{gid}" transform="matrix({scale:.6g} 0 0 {scale:.6g} '
                f'{dx:.6g} {dy:.6g})" fill="{attrs.get("fill", "black")}"/>')

    body = _USE.sub(use, _SYMBOL.sub("", svg))
    body = body.replace('xmlns="http://www.w3.org/2000/svg"',
                        'xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"', 1)
    used = dict.fromkeys(re.findall(r'xlink:href="#([^"]+)"', body))
    return body, tuple((gid, outlines[gid]) for gid in used)


def _check_braces(latex: str) -> None:
    depth = 0
    for token in _tokens(latex):
        if token == "{":
            depth += 1
        elif token == "}":
            depth -= 1
            if depth < 0:
                raise MathError("unbalanced braces: a } without its {")
    if depth:
        raise MathError(f"unbalanced braces: {depth} {{ not closed")


# -- line breaks ------------------------------------------------------------------------
_TOKEN = re.compile(r"\\[A-Za-z]+\*?|\\.|\s+|.", re.S)
_RELATIONS = {"=", "<", ">", r"\le", r"\leq", r"\ge", r"\geq", r"\ne", r"\neq", r"\approx",
              r"\propto", r"\equiv", r"\simeq"}
_OPEN = {"{", "(", "[", r"\{", r"\langle", r"\lVert", r"\lvert", r"\left", r"\begin"}
_CLOSE = {"}", ")", "]", r"\}", r"\rangle", r"\rVert", r"\rvert", r"\right", r"\end"}
_SPACES = {r"\,", r"\;", r"\:", r"\!", r"\ ", r"\quad", r"\qquad"}
_NOT_OPERAND = _RELATIONS | {"+", "-", "&", r"\pm", r"\mp", r"\cdot", r"\times"} | _OPEN


def _tokens(latex: str) -> list[str]:
    return _TOKEN.findall(latex)


def line_breaks(latex: str) -> list[str]:
    """The displayed equation as written, then with more and more line breaks.

    Forms, in order: as written; broken before each top-level relation; then also
    before the top-level binary ``+``/``-`` (and ``\\allowbreak``) of the longest line,
    the two longest, ... all lines; last, every left side on a line of its own. Each
    form is usually narrower than the one before; the panel takes the first that fits.
    """
    split = _rows(latex)
    forms = [latex]
    if split is None:
        return forms
    rows, written = split
    lines: list[tuple[str, str]] = []  # (left side or "", body) after level-1 breaks
    for left, right in rows:
        for i, body in enumerate(_split(right, 1)):
            lines.append((left or "" if i == 0 else "", body))
    if len(lines) > written:
        forms.append(_aligned(lines, set()))
    breakable = [i for i, (_, body) in enumerate(lines) if len(_split(body, 2)) > 1]
    breakable.sort(key=lambda i: -_size(lines[i][1]))
    for k in range(1, len(breakable) + 1):
        forms.append(_aligned(lines, set(breakable[:k])))
    if any(left for left, _ in lines):
        forms.append(_aligned(lines, set(breakable), stacked=True))
    return list(dict.fromkeys(forms))


def _aligned(lines: list[tuple[str, str]], broken: set[int], stacked: bool = False) -> str:
    """An aligned block of ``lines``, those in ``broken`` cut at their binary +/-.

    Stacked: one left-aligned column, each left side alone on its line.
    """
    out = []
    for i, (left, body) in enumerate(lines):
        pieces = _split(body, 2) if i in broken else [body]
        for j, piece in enumerate(pieces):
            piece = _strip_spaces(piece)
            indent = "" if _starts_with_relation(piece) else r"\quad "
            if stacked:
                if j == 0 and left:
                    out.append(f"& {left}")
                out.append(f"& \\quad {indent}{piece}")
            elif j == 0 and left:
                out.append(f"{left} & {piece}")
            else:
                out.append(f"& {indent}{piece}")
    return r"\begin{aligned} " + r" \\ ".join(out) + r" \end{aligned}"


def _strip_spaces(piece: str) -> str:
    """``piece`` without its leading space commands (``\\quad + x`` -> ``+ x``)."""
    tokens = _tokens(piece)
    while tokens and (tokens[0].isspace() or tokens[0] in _SPACES):
        tokens.pop(0)
    return "".join(tokens).strip()


def _size(latex: str) -> int:
    """A rough printed length: a command counts as one character, braces as none."""
    return len(re.sub(r"[{}_^\s]", "", re.sub(r"\\[A-Za-z]+", "x", latex)))


def inline_breaks(latex: str) -> list[str]:
    """An inline formula cut after each top-level relation and binary ``+``/``-``, so that
    the text may wrap there (as TeX wraps inline math). A piece ending in an operator
    gets ``{}`` so that the operator keeps its spacing. One piece if there is no cut."""
    tokens = _tokens(latex)
    if _depths(tokens) is None:
        return [latex]
    pieces = [p + "{}" if _ends_with_operator(p) else p
              for p in _cut(tokens, level=2, after=True)]
    return [p for p in pieces if p]


def _rows(latex: str) -> tuple[list[tuple[str | None, str]], int] | None:
    """(left, right) per line of the broken form, and the number of lines as written.

    An aligned block is split at its ``\\\\`` and ``&``; any other equation at each
    top-level ``\\qquad`` (``a = 1, \\qquad b = 2`` are two statements), then at its
    first relation. None when the delimiters do not balance (it is then never broken).
    """
    body = latex.strip()
    aligned = re.fullmatch(r"\\begin\{aligned\}(.*)\\end\{aligned\}", body, re.S)
    if aligned:
        body = aligned.group(1)
    tokens = _tokens(body)
    if _depths(tokens) is None:
        return None
    rows: list[tuple[str | None, str]] = []
    if aligned:
        for row in _split_tokens(tokens, {r"\\"}):
            cells = _split_tokens(row, {"&"})
            if len(cells) > 2:
                return None  # more columns than a relation alignment: leave it as written
            if len(cells) == 2:
                rows.append(("".join(cells[0]).strip(), "".join(cells[1]).strip()))
            else:
                rows.append((None, "".join(cells[0]).strip()))
        return rows, len(rows)
    for statement in _split_tokens(tokens, {r"\qquad"}):
        depths = _depths(statement) or []
        first = next((i for i, t in enumerate(statement) if depths[i] == 0 and t in _RELATIONS), None)
        if first is None:
            rows.append((None, "".join(statement).strip()))
        else:
            rows.append(("".join(statement[:first]).strip(), "".join(statement[first:]).strip()))
    return rows, 1


def _depths(tokens: list[str]) -> list[int] | None:
    """The nesting depth before each token; None if the delimiters do not balance."""
    depths, depth = [], 0
    for token in tokens:
        if token in _CLOSE:
            depth -= 1
        depths.append(depth)
        if token in _OPEN:
            depth += 1
        if depth < 0:
            return None
    return depths if depth == 0 else None


def _split_tokens(tokens: list[str], separators: set[str]) -> list[list[str]]:
    depths = _depths(tokens) or [1] * len(tokens)
    parts, current = [], []
    for token, depth in zip(tokens, depths, strict=False):
        if depth == 0 and token in separators:
            parts.append(current)
            current = []
        else:
            current.append(token)
    parts.append(current)
    return parts


def _split(right: str, level: int) -> list[str]:
    """Break ``right`` before its top-level relations (level 1) and binary +/- (level 2)."""
    tokens = _tokens(right)
    if _depths(tokens) is None:
        return [right]
    return _cut(tokens, level, after=False)


def _cut(tokens: list[str], level: int, after: bool) -> list[str]:
    """Cut balanced ``tokens`` before (or after) each top-level relation (level 1) and
    binary +/- (level 2); an operator with no operand before it is not a place to cut."""
    depths = _depths(tokens)
    cuts, previous = [], None  # previous: the last token that is not a space
    for i, (token, depth) in enumerate(zip(tokens, depths, strict=False)):
        if depth == 0 and previous is not None:
            if token in _RELATIONS and previous not in _RELATIONS:
                cuts.append(i + 1 if after else i)
            elif level >= 2 and token in ("+", "-") and previous not in _NOT_OPERAND:
                cuts.append(i + 1 if after else i)
            elif level >= 2 and token == r"\allowbreak":
                cuts.append(i + 1 if after else i)
        if not token.isspace() and token not in _SPACES:
            previous = token
    bounds = [0] + [c for c in cuts if c < len(tokens)] + [len(tokens)]
    return ["".join(tokens[a:b]).strip() for a, b in zip(bounds, bounds[1:], strict=False)]


def _ends_with_operator(piece: str) -> bool:
    tokens = [t for t in _tokens(piece) if not t.isspace()]
    return bool(tokens) and (tokens[-1] in _RELATIONS or tokens[-1] in ("+", "-"))


def _starts_with_relation(piece: str) -> bool:
    tokens = [t for t in _tokens(piece) if not t.isspace()]
    return bool(tokens) and tokens[0] in _RELATIONS
