"""Theory panels: typesetting time per formula and per panel, cold and cached.

cold: ziamath renders every formula (no store, empty user cache); user cache: read from
~/.cache/vigui/math; shipped: the pre-rendered stores; memory: a second panel in the
same process. A panel's time is its first build at the width of a 1280x800 window,
rasters included. Run: QT_QPA_PLATFORM=offscreen .venv/bin/python bench/theory.py
"""
import os
import sys
import tempfile
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp()  # an empty user cache


def main():
    t = time.perf_counter()
    import ziamath  # noqa: F401
    print(f"import ziamath: {(time.perf_counter() - t) * 1e3:.0f} ms")
    from PySide6.QtWidgets import QApplication, QTextBrowser
    app = QApplication(sys.argv[:1])
    warm = QTextBrowser()
    warm.setHtml("<p>x</p>")
    warm.show()
    app.processEvents()
    from vigui.theory import mathtex
    from vigui.theory import view as theory

    names = theory.source_names()
    print(f"{'panel':6} {'formulas':>8} {'per formula cold':>17} {'panel cold':>11} "
          f"{'user cache':>11} {'shipped':>8} {'memory':>7}")
    for name in names:
        items = theory.store_formulas(theory.theory_source(name))
        t = time.perf_counter()
        for latex, display in items:
            mathtex.render(latex, display)
        per = (time.perf_counter() - t) / len(items) * 1e3
        row = []
        for mode in ("cold", "user cache", "shipped", "memory"):
            mathtex._shipped = {} if mode in ("cold", "user cache") else None
            if mode != "memory":
                mathtex._memory.clear()
                theory._rasters.clear()
            if mode == "cold":
                mathtex.cache_dir().mkdir(parents=True, exist_ok=True)
                for path in mathtex.cache_dir().rglob("*.json"):
                    path.unlink()
            t = time.perf_counter()
            view = theory.TheoryView(name)
            view.resize(230, 750)
            view.show()
            app.processEvents()
            row.append((time.perf_counter() - t) * 1e3)
            assert not view.problems, view.problems
            view.close()
        print(f"{name:6} {len(items):8d} {per:14.1f} ms {row[0]:8.0f} ms {row[1]:8.0f} ms "
              f"{row[2]:5.0f} ms {row[3]:4.0f} ms")


if __name__ == "__main__":
    main()
