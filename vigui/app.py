"""The vigui window: chapter navigator, pages, menus, shortcuts, settings, screenshots."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

NO_DISPLAY = ("vigui: no display found. Run it under a virtual display (xvfb-run -a vigui) "
              "or headless with QT_QPA_PLATFORM=offscreen.")


def display_available() -> bool:
    """False on Linux when Qt would abort for lack of a display (no X11/Wayland, no offscreen)."""
    if not sys.platform.startswith("linux"):
        return True
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if platform.split(":")[0] in ("offscreen", "minimal", "vnc", "eglfs", "linuxfb"):
        return True
    if platform.startswith("wayland"):
        return bool(os.environ.get("WAYLAND_DISPLAY"))
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="vigui", description="A desktop explorer for variational inference.")
    ap.add_argument("scene", nargs="?", metavar="SCENE",
                    help="open this scene file (.json; a tour file starts that tour)")
    ap.add_argument("--tour", nargs="?", const="lecture", metavar="FILE",
                    help="start the lecture tour (or the tour in FILE); with --screenshot: "
                         "one PNG per stop")
    ap.add_argument("--page", help="open this chapter (info, cavi, vae, ...)")
    ap.add_argument("--screenshot", metavar="DIR",
                    help="run each page briefly with fixed seeds, save one PNG per page to DIR, exit")
    ap.add_argument("--size", default="1280x800", help="window size for --screenshot (WxH)")
    ap.add_argument("--pages", help="with --screenshot: comma-separated page ids (default: all)")
    ap.add_argument("--wait", type=_seconds, default=30.0, metavar="SECONDS",
                    help="with --screenshot: the longest a page may take to reach its "
                         "screenshot state (default 30; it is saved as it is then)")
    ap.add_argument("--run", action="store_true", help="start the page's experiment at once")
    ap.add_argument("--notebook", nargs=2, metavar=("SCENE", "OUT"),
                    help="write the Jupyter notebook that reproduces SCENE's figure "
                         "(a scene .json, or a tour's stop as TOUR.json#N) to OUT.ipynb, exit")
    ap.add_argument("--quit-after", type=float, metavar="SECONDS",
                    help="close the window after this many seconds (demos, smoke tests)")
    return ap.parse_args(argv)


def _seconds(text: str) -> float:
    """A positive, finite number of seconds (argparse type: a bad value is one clear line)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value < 3600:
        raise argparse.ArgumentTypeError(f"{text!r}: give between 0 and 3600 seconds")
    return value


def leave_now(code: int) -> None:
    """End the process now that the window has closed and everything is saved: the
    program's non-daemon threads are joined and its atexit handlers run (multiprocessing
    ends its children, Qt shuts down), the training children's fork server is stopped
    (still importing torch, it lived on for seconds), then ``os._exit`` skips the
    interpreter's teardown of every torch, Qt and pyqtgraph object, which took 1.5-2 s
    after the window had gone (``bench/close.py`` measures both ways)."""
    import atexit
    import threading

    for thread in threading.enumerate():
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    from vigui.run.process import stop_server

    stop_server()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed or gone: nothing left to say
            pass
    os._exit(code)


def main(argv=None) -> int:
    """The ``vigui`` command. Run as the program (``argv`` None: the command line), the
    process ends as soon as the window has closed (:func:`leave_now`); given ``argv`` (a
    test, a script) it returns the exit status."""
    as_program = argv is None
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.notebook and not display_available():
        os.environ["QT_QPA_PLATFORM"] = "offscreen"  # the page is built, never shown
    if args.screenshot and not display_available():
        os.environ["QT_QPA_PLATFORM"] = "offscreen"  # screenshots need no screen
    if not display_available():
        print(NO_DISPLAY, file=sys.stderr)
        return 2

    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    # Python's cyclic garbage collector only on the GUI thread: a collection that a worker
    # thread triggers can free a Qt object there and deadlock on Qt's and Python's locks.
    from pyqtgraph.util.garbage_collector import GarbageCollector

    app._gui_thread_gc = GarbageCollector(interval=1.0)  # lives as long as the app
    app.setOrganizationName("vigui")
    app.setApplicationName("vigui")
    from vigui.pages import available

    if args.notebook:
        return export_notebook(*args.notebook)
    from vigui.window import MainWindow

    if args.screenshot:
        window = MainWindow(fresh=True, open_initial=not args.tour)
        w, h = (int(v) for v in args.size.lower().split("x"))
        window.resize(w, h)
        if args.tour:
            return screenshot_tour(window, Path(args.screenshot), args.tour)
        ids = args.pages.split(",") if args.pages else None
        return window.save_screenshots(Path(args.screenshot), ids, timeout=args.wait)
    if args.page and args.page not in {spec.page_id for spec in available()}:
        print(f"vigui: unknown page {args.page!r}; available: "
              f"{', '.join(spec.page_id for spec in available())}", file=sys.stderr)
        return 2

    from PySide6.QtCore import QTimer

    from vigui.run import process

    # The window shows first; the page (which may import torch, ~1 s) is built just after.
    window = MainWindow(open_initial=False)
    window.show()

    def open_first_page():
        if args.scene or args.tour:
            if not open_teaching(window, args):
                print(f"vigui: {window.scene_error}", file=sys.stderr)
                window.open_page(args.page or window.initial_page)
            return
        window.open_page(args.page or window.initial_page)
        if args.run:
            window.run_current()

    QTimer.singleShot(50, open_first_page)
    QTimer.singleShot(100, process.warm_up)  # the training children's fork server
    if args.quit_after is not None:
        QTimer.singleShot(int(args.quit_after * 1000), window.close)
    code = int(app.exec())
    if as_program:
        leave_now(code)
    return code


def open_teaching(window, args) -> bool:
    """Open the scene or tour named on the command line (False: refused, see
    ``window.scene_error``)."""
    path = args.scene or args.tour
    if path == "lecture":
        return window.start_lecture_tour()
    from vigui.teaching.scenes import is_tour_file

    if is_tour_file(path):
        return window.open_tour_file(path)
    return window.open_scene_file(path)


def export_notebook(source: str, out: str) -> int:
    """``vigui --notebook SCENE OUT``: 0 when written; 2 with one line on stderr otherwise."""
    from vigui.notebook import NotebookError
    from vigui.pages import available
    from vigui.teaching.export import scene_notebook
    from vigui.teaching.scenes import SceneError, lecture_tour, read_scene, read_tour

    try:
        name, _, stop = source.partition("#")
        if stop:
            tour = lecture_tour() if name == "lecture" else read_tour(name)
            if not stop.isdigit() or not 1 <= int(stop) <= len(tour.stops):
                raise SceneError(f"{name} has stops 1 to {len(tour.stops)}, not {stop!r}.")
            scene = tour.stops[int(stop) - 1]
        else:
            scene = read_scene(source)
        path = scene_notebook(scene, out, available())
    except (SceneError, NotebookError) as exc:
        print(f"vigui: {exc}", file=sys.stderr)
        return 2
    print(f"vigui: wrote {path}", file=sys.stderr)
    return 0


def screenshot_tour(window, folder: Path, which: str) -> int:
    from vigui.teaching.scenes import SceneError, lecture_tour, read_tour

    pages = [spec.page_id for spec in window.specs]
    try:
        tour = lecture_tour(pages) if which == "lecture" else read_tour(which, pages)
    except SceneError as exc:
        print(f"vigui: {exc}", file=sys.stderr)
        return 2
    return window.save_tour_screenshots(folder, tour)


if __name__ == "__main__":
    raise SystemExit(main())

