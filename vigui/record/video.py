"""Recorded frames and their encoding into an animated GIF and an MP4 (no Qt here).

A recording appends raw RGB frames of one size to a :class:`FrameStore` (a temporary
file, so memory stays flat however long it runs); afterwards :func:`encode` writes the
files, off the GUI thread, reporting progress and honouring a cancel flag::

    store = FrameStore(640, 400)
    store.append(rgb_bytes)                    # h * w * 3 bytes per frame
    paths = encode(store, "run", fps=10, formats=("gif", "mp4"),
                   progress=lambda done, total, what: ...)

GIF: Pillow, one adaptive 256-colour palette per frame, looping; GIF delays are whole
hundredths of a second, so a frame lasts ``round(100 / fps)`` of them, and identical
consecutive frames are merged into one longer frame (Pillow does this; the timing is
kept). MP4: H.264 (yuv420p, plays everywhere) through the static ffmpeg that the
``imageio-ffmpeg`` package ships. Each file is written under a temporary name and
renamed when complete: a failed or cancelled encoding leaves nothing half-written.
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from engine.core.runtime import Cancelled

__all__ = ["FrameStore", "RecordingFull", "EncodingCancelled", "encode", "write_gif",
           "write_mp4", "mp4_available", "FORMATS", "MAX_BYTES"]

FORMATS = ("gif", "mp4")
MAX_BYTES = 4 * 2**30  # raw frames kept on disk: about 9 minutes of 640x400 at 10 fps

ProgressFn = Callable[[int, int, str], None]
CancelFn = Callable[[], bool]


class RecordingFull(Exception):
    """The frame store reached its size limit; the frames so far are kept."""


class EncodingCancelled(Cancelled):
    """``cancel()`` asked an encoding to stop; no output file was left behind."""


class FrameStore:
    """Raw RGB frames of one size, appended to a temporary file."""

    def __init__(self, width: int, height: int, folder: str | os.PathLike | None = None,
                 max_bytes: int = MAX_BYTES):
        for name, value in (("width", width), ("height", height)):
            if isinstance(value, bool) or not isinstance(value, int) or not 2 <= value <= 8192:
                raise ValueError(f"{name} must be an integer from 2 to 8192, got {value!r}")
        self.width, self.height = width, height
        self.frame_bytes = width * height * 3
        self.max_frames = max(1, max_bytes // self.frame_bytes)
        fd, name = tempfile.mkstemp(prefix="vigui-frames-", suffix=".rgb", dir=folder)
        self.path = Path(name)
        self._file = os.fdopen(fd, "wb")
        self.count = 0

    def __len__(self) -> int:
        return self.count

    def append(self, frame, repeat: int = 1) -> None:
        """Add ``frame`` (``height*width*3`` bytes or an (h, w, 3) uint8 array) ``repeat``
        times; RecordingFull when the store is full."""
        data = frame.tobytes() if isinstance(frame, np.ndarray) else bytes(frame)
        if len(data) != self.frame_bytes:
            raise ValueError(f"a frame must be {self.height}x{self.width}x3 = "
                             f"{self.frame_bytes} bytes, got {len(data)}")
        for _ in range(repeat):
            if self.count >= self.max_frames:
                raise RecordingFull(f"the recording reached its limit of {self.max_frames} "
                                    "frames")
            self._file.write(data)
            self.count += 1

    def finish(self) -> None:
        """No more frames: flush them to disk (frames can be read after this)."""
        if not self._file.closed:
            self._file.close()

    def frames(self) -> Iterable[np.ndarray]:
        """The frames in order, each (height, width, 3) uint8 (read from disk lazily)."""
        self.finish()
        if self.count == 0:
            return iter(())
        arr = np.memmap(self.path, np.uint8, "r", shape=(self.count, self.height, self.width, 3))
        return (arr[i] for i in range(self.count))

    def discard(self) -> None:
        """Delete the frames file."""
        self.finish()
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass


def mp4_available() -> bool:
    """Whether the imageio-ffmpeg package (and its ffmpeg) can be used."""
    try:
        import imageio_ffmpeg

        return Path(imageio_ffmpeg.get_ffmpeg_exe()).is_file()
    except (ImportError, RuntimeError):
        return False


def gif_delay_ms(fps: float) -> int:
    """A GIF frame's delay: whole hundredths of a second, at least 2 (browsers slow
    shorter delays down to 1/10 s)."""
    return 10 * max(2, round(100.0 / fps))


def write_gif(store: FrameStore, path: str | os.PathLike, fps: float,
              progress: ProgressFn | None = None, cancel: CancelFn | None = None) -> Path:
    """Write ``store`` as a looping animated GIF at ``path``."""
    from PIL import Image

    path = Path(path)
    total = len(store)
    if total == 0:
        raise ValueError("nothing to write: the recording has no frames")

    def images():
        for i, frame in enumerate(store.frames()):
            if cancel is not None and cancel():
                raise EncodingCancelled("GIF writing cancelled")
            im = Image.fromarray(np.ascontiguousarray(frame), "RGB")
            # An adaptive palette per frame: plots use few colours, so 256 hold them.
            yield im.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
            if progress is not None:
                progress(i + 1, total, "GIF")

    frames = images()
    first = next(frames)
    with _atomic(path) as tmp:
        first.save(tmp, format="GIF", save_all=True, append_images=frames,
                   duration=gif_delay_ms(fps), loop=0, optimize=False, disposal=1)
    return path


def write_mp4(store: FrameStore, path: str | os.PathLike, fps: float,
              progress: ProgressFn | None = None, cancel: CancelFn | None = None) -> Path:
    """Write ``store`` as an H.264 MP4 at ``path`` (needs imageio-ffmpeg)."""
    import imageio_ffmpeg

    path = Path(path)
    total = len(store)
    if total == 0:
        raise ValueError("nothing to write: the recording has no frames")
    if store.width % 2 or store.height % 2:
        raise ValueError(f"MP4 (yuv420p) needs even sizes, got {store.width}x{store.height}")
    with _atomic(path) as tmp:
        writer = imageio_ffmpeg.write_frames(
            str(tmp), (store.width, store.height), fps=fps, codec="libx264",
            pix_fmt_in="rgb24", pix_fmt_out="yuv420p", macro_block_size=2, quality=None,
            output_params=["-crf", "20", "-preset", "medium", "-movflags", "+faststart",
                           "-f", "mp4"],
            ffmpeg_log_level="error")
        writer.send(None)  # start ffmpeg
        try:
            for i, frame in enumerate(store.frames()):
                if cancel is not None and cancel():
                    raise EncodingCancelled("MP4 writing cancelled")
                writer.send(np.ascontiguousarray(frame))
                if progress is not None:
                    progress(i + 1, total, "MP4")
        finally:
            writer.close()  # waits for ffmpeg to finish the file
    return path


def encode(store: FrameStore, base: str | os.PathLike, fps: float,
           formats: Iterable[str] = FORMATS, progress: ProgressFn | None = None,
           cancel: CancelFn | None = None) -> list[Path]:
    """Write ``base.gif`` and/or ``base.mp4``; returns the paths written. Progress counts
    frames over all formats: ``progress(done, total, "GIF" | "MP4")``."""
    formats = tuple(formats)
    unknown = set(formats) - set(FORMATS)
    if unknown or not formats:
        raise ValueError(f"formats must be some of {', '.join(FORMATS)}, got {formats!r}")
    if not 0 < fps <= 60:
        raise ValueError(f"fps must be in (0, 60], got {fps!r}")
    base = Path(base)
    if base.suffix.lower() in (".gif", ".mp4"):
        base = base.with_suffix("")
    n, written = len(store), []
    for k, fmt in enumerate(formats):
        def report(done, total, what, k=k):
            if progress is not None:
                progress(k * n + done, len(formats) * n, what)

        writer = write_gif if fmt == "gif" else write_mp4
        written.append(writer(store, base.with_name(base.name + "." + fmt), fps, report, cancel))
    return written


class _atomic:
    """``with _atomic(path) as tmp:`` write ``tmp``; renamed to ``path`` only on success."""

    def __init__(self, path: Path):
        self.path = path

    def __enter__(self) -> Path:
        fd, name = tempfile.mkstemp(prefix=f".{self.path.stem}.", suffix=self.path.suffix,
                                    dir=self.path.parent)
        os.close(fd)
        self.tmp = Path(name)
        return self.tmp

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            os.chmod(self.tmp, 0o666 & ~_umask())  # mkstemp made it private; a normal file
            os.replace(self.tmp, self.path)
        else:
            try:
                self.tmp.unlink()
            except FileNotFoundError:
                pass


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
