"""Teaching: scene and tour files (``scenes``), applying them to pages (``apply``), and the
window's scene, tour and presentation menus (``menus``)."""
