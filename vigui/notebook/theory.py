"""A chapter's theory text (resources/theory/<id>.html: Qt rich text with LaTeX) as
Jupyter markdown cells: headings, paragraphs, lists, bold/italic, links; ``$...$`` and
``$$...$$`` pass through unchanged (Jupyter's MathJax typesets them). One cell per
``<h3>``/``<h4>`` section. A lecture-slip paragraph becomes a quote."""
from __future__ import annotations

import re
from html.parser import HTMLParser

__all__ = ["theory_markdown", "html_to_markdown"]

# LaTeX the app's own typesetter needs but MathJax does not know (line-break hints)
_MATHJAX_DROP = re.compile(r"\\allowbreak\s*")


class _Markdown(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.cells: list[list[str]] = [[]]
        self.line: list[str] = []
        self.lists = 0
        self.quote = False
        self.href: str | None = None
        self.in_table = 0
        self.table_html: list[str] = []

    # paragraphs and blocks end the current line
    def _flush(self, blank: bool = True) -> None:
        text = "".join(self.line).strip()
        text = re.sub(r"[ \t]*\n[ \t]*", " ", text) if not text.startswith("$$") else text
        if text:
            self.cells[-1].append(("> " + text) if self.quote else text)
            if blank:
                self.cells[-1].append("")
        self.line = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if self.in_table:
            self.table_html.append(self.get_starttag_text() or "")
            self.in_table += tag == "table"
            return
        if tag == "table":  # Jupyter's markdown renders HTML tables as they are
            self._flush()
            self.in_table = 1
            self.table_html = [self.get_starttag_text() or "<table>"]
        elif tag in ("h3", "h4"):
            self._flush()
            if any(self.cells[-1]):
                self.cells.append([])
            self.line.append("## " if tag == "h3" else "### ")
        elif tag == "p":
            self._flush()
            self.quote = "slip" in (attrs.get("class") or "")
        elif tag == "li":
            self._flush(blank=False)
            self.line.append("  " * (self.lists - 1) + "- ")
        elif tag == "ul":
            self._flush()
            self.lists += 1
        elif tag == "br":
            self.line.append("  \n")
        elif tag == "b":
            self.line.append("**")
        elif tag == "i":
            self.line.append("*")
        elif tag == "a":
            self.href = attrs.get("href")
            self.line.append("[")

    def handle_endtag(self, tag):
        if self.in_table:
            self.table_html.append(f"</{tag}>")
            if tag == "table":
                self.in_table -= 1
                if not self.in_table:
                    self.cells[-1] += ["".join(self.table_html), ""]
            return
        if tag in ("h3", "h4", "p", "li"):
            self._flush(blank=tag != "li")
            if tag == "p":
                self.quote = False
        elif tag == "ul":
            self._flush()
            self.lists = max(0, self.lists - 1)
            self.cells[-1].append("")
        elif tag == "b":
            self._close("**")
        elif tag == "i":
            self._close("*")
        elif tag == "a":
            self.line.append(f"]({self.href})" if self.href else "]")
            self.href = None

    def _close(self, mark: str) -> None:
        # "** text **" does not render: keep the spaces outside the marks
        text = "".join(self.line)
        stripped = text.rstrip()
        self.line = [stripped, mark, text[len(stripped):]]

    def handle_data(self, data):
        if self.in_table:
            self.table_html.append(data)
            return
        # display math between paragraphs: a block of its own
        for part in re.split(r"(\$\$.*?\$\$)", data, flags=re.S):
            if part.startswith("$$") and part.endswith("$$") and len(part) > 4:
                self._flush()
                self.cells[-1] += [_MATHJAX_DROP.sub("", part.strip()), ""]
            else:
                self.line.append(_MATHJAX_DROP.sub("", part))


def html_to_markdown(html: str) -> list[str]:
    """The theory HTML as markdown cell sources, one per section."""
    parser = _Markdown()
    parser.feed(html)
    parser.close()
    parser._flush()
    cells = ["\n".join(lines).strip() for lines in parser.cells]
    return [re.sub(r"\n{3,}", "\n\n", c) for c in cells if c]


def theory_markdown(name: str) -> list[str]:
    """resources/theory/<name>.html as markdown cells ([] if the chapter has none)."""
    from vigui import resources_dir

    path = resources_dir() / "theory" / f"{name}.html"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return []
    return html_to_markdown(text)
