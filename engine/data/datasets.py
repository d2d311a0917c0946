"""Image datasets: scikit-learn's bundled digits and the MNIST family in IDX format.

``load(name)`` returns a :class:`Dataset` of float32 images in [0, 1] and int64 labels::

    ds = load("digits")                 # always available, offline, 8x8
    ds = load("fashion-mnist")          # found on disk, see below
    ds = load("mnist", download=True)   # fetched once into the user cache dir
    ds = load("idx:/some/folder")       # any folder holding the four IDX files
    ds = load("folder:/my/images")      # PNG/JPEG images, one sub-folder per label

MNIST-style data is looked for, in order, in: ``root`` and ``root/<name>``;
``$VIGUI_DATA_DIR/<name>`` and ``$VIGUI_DATA_DIR``; ``<cache>/<name>`` (``<cache>`` is
``$XDG_CACHE_HOME/vigui/datasets`` or ``~/.cache/vigui/datasets``); torchvision's
``<Name>/raw`` under each of those three roots; ``/usr/share/datasets/<name>`` (where
Debian's ``dataset-fashion-mnist`` package puts Fashion-MNIST). Each of the four files
may be gzipped or not. Files found on disk are validated structurally but not
checksummed: Debian recompresses the archives, so their MD5s differ from the published
ones. Downloads are checksummed.

An image folder (``folder:<path>``) holds PNG or JPEG files in one sub-folder per
label (the sub-folder names, sorted, are the classes), or directly in the folder (one
class). Each image is converted to grey (transparent pixels become black), resized to
``IMAGE_SIZE`` x ``IMAGE_SIZE`` and scaled to [0, 1]; every sixth image of each class
(a fixed shuffle) is held out as the test set. A file that cannot be decoded refuses
the whole folder with a message naming it: nothing loads half-way.

numpy and the standard library only (scikit-learn is imported lazily for ``digits``,
Pillow for image folders).
"""
from __future__ import annotations

import functools
import gzip
import hashlib
import os
import tempfile
import urllib.request
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.client import HTTPException
from pathlib import Path

import numpy as np

__all__ = [
    "CHECKSUMS",
    "DIGIT_CLASSES",
    "FASHION_CLASSES",
    "KMNIST_CLASSES",
    "KNOWN",
    "MIRRORS",
    "Dataset",
    "DatasetError",
    "DatasetNotFound",
    "DownloadCancelled",
    "DownloadError",
    "IMAGE_SUFFIXES",
    "IMAGE_SIZE",
    "available",
    "cache_dir",
    "fetch",
    "load",
]

KNOWN = ("digits", "mnist", "fashion-mnist", "kmnist")

DIGIT_CLASSES = tuple(str(i) for i in range(10))
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
# Romanised so that any UI font can draw them (the originals are hiragana お き す ...).
KMNIST_CLASSES = ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo")

CLASSES = {"mnist": DIGIT_CLASSES, "fashion-mnist": FASHION_CLASSES, "kmnist": KMNIST_CLASSES}
TITLES = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST", "kmnist": "KMNIST"}
TORCHVISION_DIRS = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST", "kmnist": "KMNIST"}

# The four IDX files of a dataset, by Dataset field.
IDX_FILES = {
    "train_x": "train-images-idx3-ubyte",
    "train_y": "train-labels-idx1-ubyte",
    "test_x": "t10k-images-idx3-ubyte",
    "test_y": "t10k-labels-idx1-ubyte",
}

# Download mirrors, tried in order. Module-level so tests and users can override them.
MIRRORS: dict[str, tuple[str, ...]] = {
    "mnist": (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ),
    "fashion-mnist": (
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ),
    "kmnist": ("http://codh.rois.ac.jp/kmnist/dataset/kmnist/",),
}

# Published MD5s of the .gz files.
CHECKSUMS: dict[str, dict[str, str]] = {
    "mnist": {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
    "kmnist": {
        "train-images-idx3-ubyte.gz": "bdb82020997e1d708af4cf47b453dcf7",
        "train-labels-idx1-ubyte.gz": "e144d726b3acfaa3e44228e80efcd344",
        "t10k-images-idx3-ubyte.gz": "5c965bf0a639b31b8f53240b1b52f4d7",
        "t10k-labels-idx1-ubyte.gz": "7320c461ea6c1c855c0b718fb2a4b134",
    },
}

SYSTEM_DATA_DIR = Path("/usr/share/datasets")

# Image folders: which files are images, the side they are resized to, the test share.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
IMAGE_SIZE = 28
MAX_IMAGES = 200_000  # about 630 MB as float32 at 28x28: beyond that, refuse rather than swap
TEST_EVERY = 6  # one image in six of each class is held out

_IDX_MAGIC = {3: 0x00000803, 1: 0x00000801}  # unsigned-byte data, 3-d images / 1-d labels
_CHUNK = 1 << 16

ProgressFn = Callable[[int, "int | None", str], None]
CancelFn = Callable[[], bool]


class DatasetError(ValueError):
    """A dataset file is malformed; the message names the file and the problem."""


class DatasetNotFound(FileNotFoundError):
    """A dataset is not on disk; the message lists where it was looked for."""


class DownloadError(OSError):
    """Every mirror failed for some file; the message names the file and each error."""


class DownloadCancelled(Exception):
    """The ``cancel`` callable asked a download to stop; no partial files remain."""


@dataclass(frozen=True, eq=False)
class Dataset:
    """Images as float32 in [0, 1], shape (N, H, W); labels int64. Arrays are read-only."""

    name: str
    train_x: np.ndarray = field(repr=False)
    train_y: np.ndarray = field(repr=False)
    test_x: np.ndarray = field(repr=False)
    test_y: np.ndarray = field(repr=False)
    shape: tuple[int, int]
    classes: tuple[str, ...]
    source: str

    def __post_init__(self):
        # Instances are shared through the in-process cache: nobody may write into them.
        for arr in (self.train_x, self.train_y, self.test_x, self.test_y):
            arr.flags.writeable = False


# --------------------------------------------------------------------------- public API


def load(name: str = "digits", *, root: str | os.PathLike | None = None,
         download: bool = False, progress: ProgressFn | None = None,
         cancel: CancelFn | None = None) -> Dataset:
    """Load a dataset by name: one of :data:`KNOWN`, ``"idx:<folder>"`` or
    ``"folder:<folder>"`` (PNG/JPEG images, labels from sub-folder names).

    With ``download=True`` a missing MNIST-family dataset is fetched (see :func:`fetch`)
    into ``root/<name>`` if ``root`` is given, else into the user cache dir.
    Repeated calls return the same cached :class:`Dataset`.
    """
    if name == "digits":
        return _load_digits()
    if name.startswith("idx:"):
        folder = Path(name[4:]).expanduser()
        files = _idx_files(folder)
        if files is None:
            raise DatasetNotFound(f"no IDX dataset in {folder}: it needs the four files "
                                  f"{_file_list()} (each optionally .gz)"
                                  f"{_missing_note(folder)}")
        return _load_idx(name, files, DIGIT_CLASSES)
    if name.startswith("folder:"):
        return load_image_folder(name[7:])
    if name not in CLASSES:
        raise DatasetError(f"unknown dataset {name!r}; known: {', '.join(KNOWN)}, "
                           "'idx:<folder>' or 'folder:<folder>'")

    found = _find(name, root)
    if found is None:
        if not download:
            raise DatasetNotFound(_not_found_message(name, root))
        dest = Path(root).expanduser() / name if root is not None else None
        found = fetch(name, dest=dest, progress=progress, cancel=cancel)
    files = _idx_files(found)
    if files is None:  # fetch() checked them; a file vanishing meanwhile lands here
        raise DatasetNotFound(_not_found_message(name, root))
    return _load_idx(name, files, CLASSES[name])


def available(root: str | os.PathLike | None = None) -> dict[str, str | None]:
    """For each known dataset, where it would be loaded from, or None if absent."""
    found: dict[str, str | None] = {"digits": "bundled"}
    for name in KNOWN[1:]:
        folder = _find(name, root)
        found[name] = None if folder is None else str(folder)
    return found


def cache_dir() -> Path:
    """Where downloads go: ``$XDG_CACHE_HOME/vigui/datasets`` or ``~/.cache/vigui/datasets``."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "vigui" / "datasets"


def fetch(name: str, *, dest: str | os.PathLike | None = None,
          mirrors: Sequence[str] | None = None, checksums: dict[str, str] | None = None,
          progress: ProgressFn | None = None, cancel: CancelFn | None = None,
          timeout: float = 30.0) -> Path:
    """Download the four .gz files of ``name`` into ``dest`` (default ``cache_dir()/name``).

    Mirrors are tried in order for each file; each file is checked against its MD5 and
    written atomically, so a failed or cancelled download never leaves a file under its
    final name. Files already present with the right checksum are kept.
    ``progress(done_bytes, total_bytes_or_None, filename)`` is called as bytes arrive;
    ``cancel()`` returning True raises :class:`DownloadCancelled`.
    """
    if name not in CLASSES:
        raise DatasetError(f"{name!r} cannot be downloaded; choose one of {', '.join(CLASSES)}")
    dest = Path(dest).expanduser() if dest is not None else cache_dir() / name
    mirrors = tuple(mirrors if mirrors is not None else MIRRORS[name])
    checksums = checksums if checksums is not None else CHECKSUMS[name]
    dest.mkdir(parents=True, exist_ok=True)
    for stem in IDX_FILES.values():
        filename = stem + ".gz"
        target = dest / filename
        if target.is_file() and _md5_of_file(target) == checksums[filename]:
            continue
        _fetch_file(filename, mirrors, checksums[filename], target, progress, cancel, timeout)
    return dest


# --------------------------------------------------------------------------- lookup


def _search_places(name: str, root) -> list[Path]:
    roots = []
    places = []
    if root is not None:
        roots.append(Path(root).expanduser())
        places += [roots[-1], roots[-1] / name]
    env = os.environ.get("VIGUI_DATA_DIR")
    if env:
        roots.append(Path(env).expanduser())
        places += [roots[-1] / name, roots[-1]]
    roots.append(cache_dir())
    places.append(roots[-1] / name)
    places += [r / TORCHVISION_DIRS[name] / "raw" for r in roots]
    places.append(SYSTEM_DATA_DIR / name)
    return places


def _find(name: str, root) -> Path | None:
    for place in _search_places(name, root):
        if _idx_files(place) is not None:
            return place
    return None


def _idx_files(folder: Path) -> dict[str, Path] | None:
    """The four IDX files in ``folder`` (uncompressed preferred: faster), or None."""
    files = {}
    for key, stem in IDX_FILES.items():
        for candidate in (folder / stem, folder / (stem + ".gz")):
            if candidate.is_file():
                files[key] = candidate
                break
        else:
            return None
    return files


def _file_list() -> str:
    return ", ".join(IDX_FILES.values())


def _missing_note(folder: Path) -> str:
    """Say which files are missing when a folder holds only some of them."""
    if not folder.is_dir():
        return ""
    missing = [s for s in IDX_FILES.values()
               if not (folder / s).is_file() and not (folder / (s + ".gz")).is_file()]
    return f" (missing {', '.join(missing)})" if len(missing) < len(IDX_FILES) else ""


def _not_found_message(name: str, root) -> str:
    places = "\n".join(f"  {p}{_missing_note(p)}" for p in _search_places(name, root))
    hint = ("\nOn Debian/Ubuntu, `apt-get install dataset-fashion-mnist` also provides it."
            if name == "fashion-mnist" else "")
    return (f"{TITLES[name]} not found. Looked in:\n{places}\n"
            f"To download it (about 30 MB, into {cache_dir() / name}): use the Download "
            f"button in the GUI, `vigui-train ... --download`, or "
            f"engine.data.datasets.load({name!r}, download=True). Or put the four IDX files "
            f"({_file_list()}, each optionally .gz) in one of the folders above.{hint}")


# --------------------------------------------------------------------------- reading


@functools.lru_cache(maxsize=1)
def _load_digits() -> Dataset:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    x = (bunch.images / 16.0).astype(np.float32)
    y = bunch.target.astype(np.int64)
    # Fixed seed and stratification: every call and every machine sees the same split.
    train_x, test_x, train_y, test_y = train_test_split(
        x, y, test_size=360, stratify=y, random_state=0)
    return Dataset("digits", train_x, train_y, test_x, test_y, (8, 8), DIGIT_CLASSES,
                   "scikit-learn bundled digits")


def _load_idx(name: str, files: dict[str, Path], classes: tuple[str, ...]) -> Dataset:
    paths = tuple(files[key].resolve() for key in IDX_FILES)
    # Size and mtime in the key so that a file replaced on disk is read again.
    stamps = tuple((st.st_size, st.st_mtime_ns) for st in (p.stat() for p in paths))
    return _load_idx_cached(name, paths, stamps, classes)


@functools.lru_cache(maxsize=4)  # an MNIST-sized dataset is about 220 MB as float32
def _load_idx_cached(name: str, paths: tuple[Path, ...], _stamps, classes) -> Dataset:
    train_xp, train_yp, test_xp, test_yp = paths
    train_x, test_x = _read_idx(train_xp, 3), _read_idx(test_xp, 3)
    train_y, test_y = _read_idx(train_yp, 1), _read_idx(test_yp, 1)
    for images, labels, ipath, lpath in ((train_x, train_y, train_xp, train_yp),
                                        (test_x, test_y, test_xp, test_yp)):
        if len(images) != len(labels):
            raise DatasetError(f"{lpath}: {len(labels)} labels but {ipath} has "
                               f"{len(images)} images")
        if len(images) == 0:
            raise DatasetError(f"{ipath}: contains no images")
        if labels.max() >= len(classes):
            bad = int(np.argmax(labels >= len(classes)))
            raise DatasetError(f"{lpath}: label {labels[bad]} at index {bad} is out of "
                               f"range 0..{len(classes) - 1}")
    if train_x.shape[1:] != test_x.shape[1:]:
        raise DatasetError(f"{test_xp}: images are {test_x.shape[1]}x{test_x.shape[2]} but "
                           f"{train_xp} has {train_x.shape[1]}x{train_x.shape[2]}")
    return Dataset(name, _to_unit(train_x), train_y.astype(np.int64),
                   _to_unit(test_x), test_y.astype(np.int64),
                   (int(train_x.shape[1]), int(train_x.shape[2])), classes,
                   str(train_xp.parent))


def _to_unit(images: np.ndarray) -> np.ndarray:
    # Divide, not multiply by 1/255: 255 must map to exactly 1.0.
    return np.divide(images, np.float32(255), dtype=np.float32)


def _read_idx(path: Path, ndim: int) -> np.ndarray:
    """Read an unsigned-byte IDX file (gzipped or not), checking its header and size."""
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":  # gzip magic: trust the content, not the file name
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise DatasetError(f"{path}: corrupt or truncated gzip data ({exc})") from None
    elif path.suffix == ".gz":
        raise DatasetError(f"{path}: not a gzip file (starts with {data[:8]!r})")

    kind = "image" if ndim == 3 else "label"
    header = 4 + 4 * ndim
    if len(data) < 4:
        raise DatasetError(f"{path}: too short to be an IDX file ({len(data)} bytes)")
    magic = int.from_bytes(data[:4], "big")
    if magic != _IDX_MAGIC[ndim]:
        raise DatasetError(f"{path}: not an IDX {kind} file (magic number 0x{magic:08x}, "
                           f"expected 0x{_IDX_MAGIC[ndim]:08x}; starts with {data[:8]!r})")
    if len(data) < header:
        raise DatasetError(f"{path}: truncated IDX header ({len(data)} bytes)")
    dims = tuple(int(d) for d in np.frombuffer(data, ">u4", count=ndim, offset=4))
    expected = int(np.prod(dims))
    actual = len(data) - header
    if actual != expected:
        problem = "truncated" if actual < expected else "has trailing bytes"
        raise DatasetError(f"{path}: {problem}: header says {'x'.join(map(str, dims))} = "
                           f"{expected} bytes of data, file has {actual}")
    return np.frombuffer(data, np.uint8, count=expected, offset=header).reshape(dims)


# --------------------------------------------------------------------------- image folders


def load_image_folder(folder: str | os.PathLike, size: int = IMAGE_SIZE) -> Dataset:
    """A :class:`Dataset` of the PNG/JPEG images in ``folder`` (see the module docstring).

    Raises :class:`DatasetNotFound` for a missing folder, :class:`DatasetError` for a
    folder with fewer than two images, images both loose and in sub-folders, or an
    image that cannot be decoded (the message names the file). A class with a single
    image trains only (the Dataset's ``source`` says so). Repeated calls return the
    cached Dataset until a file changes.
    """
    if isinstance(size, bool) or not isinstance(size, int) or not 4 <= size <= 256:
        raise ValueError(f"size must be an integer from 4 to 256, got {size!r}")
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise DatasetNotFound(f"image folder {root} does not exist or is not a folder")
    files = _image_files(root)
    # Sizes and mtimes in the key: a folder whose files change is read again.
    stamps = tuple((label, str(p), st.st_size, st.st_mtime_ns)
                   for label, p in files for st in (p.stat(),))
    return _load_image_folder_cached(str(root.resolve()), stamps, size)


def _is_image(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def _image_files(root: Path) -> list[tuple[str, Path]]:
    """(class name, path) of every image, classes and files sorted by name."""
    subdirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    loose = sorted(p for p in root.iterdir() if _is_image(p))
    labelled = [(d.name, p) for d in subdirs for p in sorted(d.iterdir()) if _is_image(p)]
    if loose and labelled:
        raise DatasetError(
            f"{root}: holds images both directly ({loose[0].name}, ...) and in sub-folders; "
            "put every image in a sub-folder named by its label, or all of them in the folder")
    files = labelled or [(root.name or "images", p) for p in loose]
    if not files:
        kinds = "/".join(s.lstrip(".").upper() for s in IMAGE_SUFFIXES)
        raise DatasetError(f"{root}: no {kinds} images in the folder or its sub-folders")
    if len(files) > MAX_IMAGES:
        raise DatasetError(f"{root}: {len(files):,} images; at most {MAX_IMAGES:,} are read")
    return files


@functools.lru_cache(maxsize=2)
def _load_image_folder_cached(root: str, stamps, size: int) -> Dataset:
    from PIL import Image, UnidentifiedImageError

    paths = [Path(p) for _, p, _, _ in stamps]
    if len(paths) < 2:
        raise DatasetError(f"{root}: needs at least 2 images (one to train on, one to test), "
                           f"found {len(paths)}: {paths[0].name}")
    labels_by_name = sorted({label for label, _, _, _ in stamps})
    index = {name: i for i, name in enumerate(labels_by_name)}
    images = np.empty((len(paths), size, size), np.uint8)
    for i, path in enumerate(paths):
        try:
            with Image.open(path) as im:
                im.load()  # decode now: a truncated file fails here, not later
                images[i] = _to_grey(im).resize((size, size), Image.Resampling.LANCZOS)
        except (OSError, UnidentifiedImageError, ValueError, SyntaxError,
                Image.DecompressionBombError) as exc:
            raise DatasetError(f"{path}: not a readable image ({exc})") from None
    labels = np.array([index[label] for label, _, _, _ in stamps], np.int64)
    counts = np.bincount(labels, minlength=len(labels_by_name))
    test = _held_out(labels)
    lone = [labels_by_name[k] for k in np.flatnonzero(counts == 1)]
    note = f"; classes with a single image (train only): {', '.join(lone)}" if lone else ""
    return Dataset(f"folder:{root}", _to_unit(images[~test]), labels[~test],
                   _to_unit(images[test]), labels[test], (size, size), tuple(labels_by_name),
                   f"{root} ({len(paths)} images, {len(labels_by_name)} classes{note})")


def _to_grey(im):
    """Grey ("L") from any mode; transparent pixels become black (MNIST-like glyphs)."""
    from PIL import Image

    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        black = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        return Image.alpha_composite(black, rgba).convert("L")
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16-bit PNG: scale to 8 bits
        arr = np.asarray(im, dtype=np.float64)
        top = arr.max() if arr.max() > 255 else 255.0
        return Image.fromarray(np.round(arr * (255.0 / max(top, 1.0))).astype(np.uint8), "L")
    return im.convert("L")


def _held_out(labels: np.ndarray) -> np.ndarray:
    """A fixed, per-class one-in-TEST_EVERY test mask (at least one test image overall)."""
    rng = np.random.default_rng(0)
    test = np.zeros(len(labels), bool)
    for k in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == k))
        if len(members) >= 2:
            test[members[:max(1, len(members) // TEST_EVERY)]] = True
    if not test.any():  # every class has one image: hold out the last one
        test[-1] = True
    return test


# --------------------------------------------------------------------------- download


def _md5_of_file(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _fetch_file(filename: str, mirrors: Sequence[str], md5: str, target: Path,
                progress, cancel, timeout: float) -> None:
    errors = []
    for base in mirrors:
        url = base.rstrip("/") + "/" + filename
        try:
            _download_to(url, target, md5, progress, cancel, timeout)
            return
        except (OSError, HTTPException, ValueError) as exc:  # this mirror failed; next one
            errors.append(f"  {url}: {exc}")
    tried = "\n".join(errors) or "  (no mirrors configured)"
    raise DownloadError(f"could not download {filename}; every mirror failed:\n{tried}")


def _download_to(url: str, target: Path, md5: str, progress, cancel, timeout: float) -> None:
    filename = target.name
    # A temp file in the same folder: os.replace is then atomic, and the hidden
    # ".part" name is never mistaken for a dataset file.
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{filename}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as tmp:
            request = urllib.request.Request(url, headers={"User-Agent": "vigui"})
            with urllib.request.urlopen(request, timeout=timeout) as response:
                length = response.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
                h, done = hashlib.md5(), 0
                if progress:
                    progress(0, total, filename)
                while True:
                    if cancel is not None and cancel():
                        raise DownloadCancelled(f"download of {filename} cancelled")
                    chunk = response.read(_CHUNK)
                    if not chunk:
                        break
                    tmp.write(chunk)
                    h.update(chunk)
                    done += len(chunk)
                    if progress:
                        progress(done, total, filename)
        if total is not None and done != total:
            raise DownloadError(f"transfer truncated: got {done} of {total} bytes")
        if h.hexdigest() != md5:
            raise DownloadError(f"checksum mismatch for {filename}: expected MD5 {md5}, "
                                f"got {h.hexdigest()}")
        os.replace(tmp_name, target)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
