"""vigui's data files (theory panels), installed as the package ``vigui.resources``.

The folder stays at the top of the source tree; pyproject.toml maps the package name
onto it (``package-dir``), so the wheel ships it inside ``vigui/``. Read it with
:func:`vigui.resources_dir`, never by a path relative to the source tree.
"""
