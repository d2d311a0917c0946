"""Soak test: a page trains for a long time; do memory, frame size and drawing cost stay flat?

Runs one page of the real window offscreen (the VAE on digits by default, any page with
``--page``), presses Play and prints every ``--every`` seconds:

  t        seconds since Play
  steps/s  training steps per second over the interval (from the runner's progress)
  GUI MB   resident memory of this (GUI) process
  child MB resident memory of the training child process (process runner pages)
  B/frame  pickled bytes per frame (what crosses the pipe; for thread-runner pages the
           same events are pickled here just to weigh them)
  ms/draw  GUI time per frame (the page's render of one snapshot)
  frames   frames drawn in the interval

and at the end the growth after warm-up and the last interval against the first full
minute. Aim (issue 7): < 20 MB growth after warm-up, frame bytes and draw time within
10% of the first minute's, steps/s not falling.

    python bench/soak.py                       # VAE, digits, 5 minutes
    python bench/soak.py --minutes 30
    python bench/soak.py --page cavi --set mode=gradient --set alpha=1e-6 --set n=20000
"""
from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from proc_memory import memory_bytes  # noqa: E402  (bench/, the script's own folder)


def rss_mb(pid: int | None = None) -> float:
    """Resident memory of a process in MB (nan where /proc cannot say)."""
    return memory_bytes(pid, "rss") / 1e6 or float("nan")


def parse_sets(items: list[str]) -> dict:
    """``name=value`` pairs; values read as JSON when they parse, else as text."""
    out = {}
    for item in items:
        name, _, value = item.partition("=")
        try:
            out[name] = json.loads(value)
        except ValueError:
            out[name] = value
    return out


class Meter:
    """Counts what the current runner delivers (bytes, frames, draw time, steps)."""

    def __init__(self, page):
        self.page = page
        self.runner = None
        self.steps = 0
        self.thread_bytes = 0
        self.thread_frames = 0

    def attach(self) -> None:
        runner = self.page.runner
        if runner is self.runner or runner is None:
            return
        self.runner = runner
        runner.progress.connect(self._progress)
        if getattr(runner, "pid", None) is not None:
            return  # a process runner counts its received bytes itself
        loop = getattr(runner, "_loop", None)  # a thread runner: weigh its frame events
        if loop is not None:
            post = loop._post_event

            def weighed(kind, *args):
                if kind == "frame":
                    self.thread_bytes += len(pickle.dumps((kind, args)))
                    self.thread_frames += 1
                post(kind, *args)

            loop._post_event = weighed

    def _progress(self, steps: int, rate: float) -> None:
        self.steps = max(self.steps, steps)

    def reading(self) -> dict:
        r = self.runner
        stats = r.stats
        pid = getattr(r, "pid", None)
        return {"steps": self.steps, "frames": stats.frames, "render": stats.render_seconds,
                "bytes": stats.bytes if pid else self.thread_bytes,
                "sent": stats.frames if pid else self.thread_frames,
                "gui": rss_mb(), "child": rss_mb(pid) if pid else float("nan")}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--page", default="vae", help="page id (vae, cavi, info)")
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--every", type=float, default=10.0, help="seconds between rows")
    ap.add_argument("--warmup", type=float, default=60.0,
                    help="seconds before the memory baseline is taken")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="a page parameter (repeatable), e.g. --set dataset=digits")
    args = ap.parse_args(argv)

    from PySide6.QtWidgets import QApplication

    _app = QApplication.instance() or QApplication(sys.argv[:1])  # held for the whole run
    from vigui.run.events import wait
    from vigui.window import MainWindow

    window = MainWindow(fresh=True)
    window.resize(1280, 800)
    window.show()
    window.open_page(args.page)
    page = window.pages[args.page]
    if args.page == "info":
        page.show_section("gauss")
        page.gauss.params.restore({"max_samples": 10_000_000}, emit=False)
    params = getattr(page, "params", None)
    if params is not None and args.set:
        fallbacks = params.restore(parse_sets(args.set), emit=False)
        if fallbacks:
            print(f"soak: ignored invalid values for {', '.join(fallbacks)}", file=sys.stderr)
    control = page.run_control()
    if control is None:
        print(f"soak: page {args.page!r} runs nothing", file=sys.stderr)
        return 2
    control.reset(play=True)
    meter = Meter(page)
    meter.attach()
    deadline = time.perf_counter() + 180
    while not meter.steps and time.perf_counter() < deadline:
        wait(50)  # until the first steps (a child imports torch and loads the data first)
        meter.attach()

    print(f"page {args.page}, {args.minutes:g} min, row every {args.every:g} s, "
          f"runner {type(control.runner).__name__}, {os.cpu_count()} cores")
    print(f"{'t':>6} {'steps/s':>9} {'GUI MB':>8} {'child MB':>9} {'B/frame':>9} "
          f"{'ms/draw':>8} {'frames':>7}")
    t0 = time.perf_counter()
    last = meter.reading()
    last_t = t0
    rows = []
    end = t0 + 60 * args.minutes
    while time.perf_counter() < end:
        wait(int(1000 * args.every))
        meter.attach()
        if control.runner is not meter.runner:
            print("soak: the run was replaced (reset); stopping", file=sys.stderr)
            break
        now = time.perf_counter()
        r = meter.reading()
        frames = r["frames"] - last["frames"]
        sent = r["sent"] - last["sent"]
        row = {"t": now - t0, "rate": (r["steps"] - last["steps"]) / (now - last_t),
               "gui": r["gui"], "child": r["child"],
               "bpf": (r["bytes"] - last["bytes"]) / sent if sent else float("nan"),
               "ms": 1000 * (r["render"] - last["render"]) / frames if frames else float("nan"),
               "frames": frames}
        rows.append(row)
        print(f"{row['t']:6.0f} {row['rate']:9,.0f} {row['gui']:8.1f} {row['child']:9.1f} "
              f"{row['bpf']:9,.0f} {row['ms']:8.2f} {row['frames']:7d}", flush=True)
        last, last_t = r, now
        if control.ended:
            print("soak: the run ended (finished or failed)", file=sys.stderr)
            break

    state = control.state
    t_close = time.perf_counter()
    window.close()
    close_s = time.perf_counter() - t_close
    if rows:
        base = [x for x in rows if x["t"] >= args.warmup] or rows
        first_min = [x for x in rows if x["t"] <= 60.0] or rows[:1]
        end_row = rows[-1]

        def mean(key, xs):
            vals = [x[key] for x in xs if x[key] == x[key]]
            return sum(vals) / len(vals) if vals else float("nan")

        print(f"\nafter warm-up ({base[0]['t']:.0f} s -> {end_row['t']:.0f} s): "
              f"GUI {end_row['gui'] - base[0]['gui']:+.1f} MB, "
              f"child {end_row['child'] - base[0]['child']:+.1f} MB")
        for key, name in (("bpf", "bytes/frame"), ("ms", "ms/draw"), ("rate", "steps/s")):
            a, b = mean(key, first_min), end_row[key]
            print(f"{name:12s} first minute {a:10,.2f}   last row {b:10,.2f}   ratio {b / a:5.2f}")
        print(f"final state {state}; window closed in {1000 * close_s:.0f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
