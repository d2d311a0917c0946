"""The app's memory as a person walks it: every page through the navigator (and every
tab of a chapter with tabs, through its tab bar), then the lecture tour with Page Down
to its end, then out of the tour and back to the first page. After each, once the
processes have settled, one line: the app's memory (PSS: pages shared between processes
counted once), its child processes (the torch pages' training children; the fork server
they come from and multiprocessing's resource tracker are counted apart) and the sum. A
page left with an idle run lets its child go, so the child count
falls again as the walk moves on; the last lines list any child still alive.

Offscreen, 1280x800, fixed seeds. Linux (/proc).
Run: QT_QPA_PLATFORM=offscreen python bench/memory.py [--no-tour] [--settle 1.5]
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from proc_memory import memory_bytes  # noqa: E402  (bench/, the script's own folder)

MB = 1 << 20


def _proc_children(pid: int) -> list[tuple[int, int]]:
    """Descendants of ``pid`` from /proc, as (pid, parent pid)."""
    parents: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    parents[int(name)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                pass
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        kids = [c for c, parent in parents.items() if parent == p]
        out += [(c, p) for c in kids]
        todo += kids
    return out


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def processes() -> tuple[int, list[tuple[int, int, str]]]:
    """The app's PSS and its descendants as (pid, pss, kind): ``child`` (a training run),
    ``server`` (the fork server the runs are forked from: the app's own child, while the
    runs it forks share its command line) or ``tracker``."""
    me = os.getpid()
    out = []
    for pid, parent in _proc_children(me):
        cmd = _cmdline(pid)
        if "resource_tracker" in cmd:
            kind = "tracker"
        elif "forkserver" in cmd and parent == me:
            kind = "server"
        else:
            kind = "child"
        memory = memory_bytes(pid, "pss")
        if memory > 0:
            out.append((pid, memory, kind))
    return memory_bytes(me, "pss"), out


def settled(wait, settle: float, limit: float = 40.0) -> tuple[int, list]:
    """Measure once the processes stop changing: the same children and every RSS within
    3 % over ``settle`` seconds (at most ``limit`` seconds)."""
    t0 = time.monotonic()
    last = processes()
    while True:
        wait(int(settle * 1000))
        now = processes()
        same = [p for p, *_ in now[1]] == [p for p, *_ in last[1]]
        close = all(abs(a[1] - b[1]) <= 0.03 * max(a[1], 1) for a, b in zip(now[1], last[1], strict=False))
        if (same and close and abs(now[0] - last[0]) <= 0.03 * last[0]) or time.monotonic() - t0 > limit:
            return now
        last = now


def line(label: str, measured) -> str:
    rss, kids = measured
    children = [r for _, r, kind in kids if kind == "child"]
    helpers = sum(r for _, r, kind in kids if kind != "child")
    total = rss + sum(children) + helpers
    return (f"{label:<34} app {rss / MB:7.0f} MB   children {len(children)}: {sum(children) / MB:6.0f} MB"
            f"   server+tracker {helpers / MB:4.0f} MB   total {total / MB:7.0f} MB")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--no-tour", action="store_true", help="pages only")
    ap.add_argument("--settle", type=float, default=1.5, help="seconds without change to measure")
    args = ap.parse_args(argv)

    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    from bench.window import open_window
    from vigui.teaching.scenes import lecture_tour

    app, win, wait = open_window()
    wait(500)
    print(line("start (no page)", settled(wait, args.settle)), flush=True)

    def click_row(row: int) -> None:
        rect = win.nav.visualItemRect(win.nav.item(row))
        QTest.mouseClick(win.nav.viewport(), Qt.LeftButton, pos=rect.center())

    try:
        for row, spec in enumerate(win.specs):
            click_row(row)
            page = win.current_page()
            assert page is not None and page.page_id == spec.page_id, (row, spec.page_id)
            print(line(f"page {spec.page_id}", settled(wait, args.settle)), flush=True)
            tabs = getattr(page, "tabs", None)
            for i in range(1, tabs.count() if tabs is not None else 0):
                bar = tabs.tabBar()
                QTest.mouseClick(bar, Qt.LeftButton, pos=bar.tabRect(i).center())
                print(line(f"  {spec.page_id} tab {page.keys[i]}", settled(wait, args.settle)), flush=True)
        click_row(0)
        print(line("back on the first page", settled(wait, args.settle)), flush=True)
        if not args.no_tour:
            tour = lecture_tour([s.page_id for s in win.specs])
            for i in range(len(tour.stops)):
                QTest.keyClick(win, Qt.Key_PageDown)
                page = win.current_page()
                t0 = time.monotonic()
                while not page.screenshot_ready() and time.monotonic() - t0 < 90:
                    wait(50)
                assert win.tour_index == i, (win.tour_index, i)
                print(line(f"tour stop {i + 1} ({tour.stops[i].page})", settled(wait, args.settle)),
                      flush=True)
            QTest.mouseClick(win.banner.close_button, Qt.LeftButton)
            assert win.tour is None
            print(line("tour left", settled(wait, args.settle)), flush=True)
            click_row(0)
            print(line("back on the first page", settled(wait, args.settle)), flush=True)
        end = settled(wait, args.settle)
        print(line("end", end), flush=True)
        for pid, rss, kind in end[1]:
            print(f"  still alive: pid {pid} ({kind}) {rss / MB:.0f} MB")
    finally:
        win.close()
        app.processEvents()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
