"""Recording a page: capture and the Record menu (``recorder``), GIF/MP4 writing (``video``),
SVG/PDF export of a plot (``vector``)."""
