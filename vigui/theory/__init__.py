"""The theory panels: LaTeX typeset to SVG with caches (``mathtex``, no Qt) and the panel
widget (``view``)."""
