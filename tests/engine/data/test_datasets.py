"""engine.data.datasets: bundled digits, IDX lookup and validation, downloads from a local server."""
from __future__ import annotations

import gzip
import hashlib
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from engine.data import datasets as data

SYSTEM_FASHION = Path("/usr/share/datasets/fashion-mnist")
GZ_NAMES = [stem + ".gz" for stem in data.IDX_FILES.values()]


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Keep the user's real cache dir and $VIGUI_DATA_DIR out of every test."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.delenv("VIGUI_DATA_DIR", raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1")  # the test server must be reached directly


@pytest.fixture
def no_system_data(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "SYSTEM_DATA_DIR", tmp_path / "system")


# --------------------------------------------------------------------------- IDX helpers


def idx_bytes(arr) -> bytes:
    arr = np.asarray(arr, dtype=np.uint8)
    header = (0x800 | arr.ndim).to_bytes(4, "big")
    header += b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    return header + arr.tobytes()


def write_idx(path: Path, arr, gz: bool) -> Path:
    blob = idx_bytes(arr)
    if gz:
        path, blob = path.with_name(path.name + ".gz"), gzip.compress(blob)
    path.write_bytes(blob)
    return path


def make_arrays(n_train=20, n_test=10, shape=(6, 5), seed=0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    train_x = rng.integers(0, 256, (n_train, *shape), dtype=np.uint8)
    train_x[0, 0, 0], train_x[0, 0, 1] = 0, 255  # both ends of the range
    return {
        "train_x": train_x,
        "train_y": np.arange(n_train) % 10,
        "test_x": rng.integers(0, 256, (n_test, *shape), dtype=np.uint8),
        "test_y": (np.arange(n_test) * 3) % 10,
    }


def make_idx_dataset(folder: Path, gz=True, **kwargs) -> dict[str, Path]:
    """Write a small valid dataset into ``folder``; return its four file paths."""
    folder.mkdir(parents=True, exist_ok=True)
    arrays = make_arrays(**kwargs)
    return {key: write_idx(folder / stem, arrays[key], gz) for key, stem in data.IDX_FILES.items()}


def md5(blob: bytes) -> str:
    return hashlib.md5(blob).hexdigest()


# --------------------------------------------------------------------------- digits


def test_digits_shapes_dtype_range():
    ds = data.load("digits")
    assert ds.name == "digits" and ds.shape == (8, 8) and ds.classes == data.DIGIT_CLASSES
    assert ds.train_x.shape == (1437, 8, 8) and ds.test_x.shape == (360, 8, 8)
    assert ds.train_y.shape == (1437,) and ds.test_y.shape == (360,)
    assert ds.train_x.dtype == np.float32 and ds.train_y.dtype == np.int64
    assert ds.train_x.min() == 0.0 and ds.train_x.max() == 1.0
    assert set(np.unique(ds.train_y)) == set(range(10)) == set(np.unique(ds.test_y))
    assert ds.source == "scikit-learn bundled digits"


def test_digits_split_is_deterministic_and_stratified():
    first = data.load("digits")
    data._load_digits.cache_clear()
    second = data.load("digits")
    assert first is not second
    for a, b in ((first.train_x, second.train_x), (first.test_y, second.test_y)):
        np.testing.assert_array_equal(a, b)
    counts = np.bincount(first.test_y, minlength=10)
    assert counts.min() >= 34 and counts.max() <= 38  # ~10% of each class of ~180


def test_load_defaults_to_digits_and_caches():
    assert data.load() is data.load("digits")
    assert data.available()["digits"] == "bundled"


def test_arrays_are_read_only():
    ds = data.load("digits")
    with pytest.raises(ValueError):
        ds.train_x[0, 0, 0] = 0.5
    with pytest.raises(ValueError):
        ds.test_y[0] = 3


# --------------------------------------------------------------------------- real Fashion-MNIST


@pytest.fixture(scope="module")
def fashion():
    if not all((SYSTEM_FASHION / name).is_file() for name in GZ_NAMES):
        pytest.skip("Fashion-MNIST not installed: apt-get install dataset-fashion-mnist")
    return data.load("fashion-mnist", root=SYSTEM_FASHION)


@pytest.mark.slow
def test_fashion_mnist_from_system(fashion):
    ds = fashion
    assert ds.train_x.shape == (60_000, 28, 28) and ds.test_x.shape == (10_000, 28, 28)
    assert ds.train_y.shape == (60_000,) and ds.test_y.shape == (10_000,)
    assert ds.train_x.dtype == np.float32 and ds.test_y.dtype == np.int64
    assert ds.train_x.min() == 0.0 and ds.train_x.max() == 1.0
    assert ds.shape == (28, 28) and ds.classes == data.FASHION_CLASSES
    assert set(np.unique(ds.train_y)) == set(range(10))
    assert np.all(np.bincount(ds.train_y) == 6000)  # Fashion-MNIST is exactly balanced


@pytest.mark.slow
def test_fashion_mnist_found_without_asking(fashion):
    # /usr/share/datasets is the last place looked in; nothing else is set up here.
    assert data.available()["fashion-mnist"] == str(SYSTEM_FASHION)
    assert data.load("fashion-mnist") is fashion  # the in-process cache


# --------------------------------------------------------------------------- lookup


def test_lookup_order(tmp_path, monkeypatch):
    root, env = tmp_path / "root", tmp_path / "env"
    cache = tmp_path / "xdg-cache" / "vigui" / "datasets"
    system = tmp_path / "system"
    monkeypatch.setenv("VIGUI_DATA_DIR", str(env))
    monkeypatch.setattr(data, "SYSTEM_DATA_DIR", system)
    places = [root, root / "mnist", env / "mnist", env, cache / "mnist",
              root / "MNIST" / "raw", env / "MNIST" / "raw", cache / "MNIST" / "raw",
              system / "mnist"]
    # A distinct train-set size per place tells which one was read.
    written = [make_idx_dataset(p, gz=i % 2 == 0, n_train=10 + i) for i, p in enumerate(places)]
    for i, (place, files) in enumerate(zip(places, written, strict=False)):
        ds = data.load("mnist", root=root)
        assert (Path(ds.source), len(ds.train_x)) == (place, 10 + i)
        assert data.available(root=root)["mnist"] == str(place)
        for path in files.values():
            path.unlink()
    with pytest.raises(data.DatasetNotFound) as err:
        data.load("mnist", root=root)
    for place in places:
        assert str(place) in str(err.value)


def test_env_dir_and_torchvision_layout(tmp_path, monkeypatch, no_system_data):
    env = tmp_path / "env"
    monkeypatch.setenv("VIGUI_DATA_DIR", str(env))
    make_idx_dataset(env / "KMNIST" / "raw", gz=False)
    ds = data.load("kmnist")
    assert ds.classes == data.KMNIST_CLASSES and Path(ds.source) == env / "KMNIST" / "raw"
    assert data.available()["kmnist"] == str(env / "KMNIST" / "raw")
    assert data.available()["mnist"] is None


@pytest.mark.parametrize("gz", [True, False], ids=["gz", "raw"])
def test_idx_folder_round_trip(tmp_path, gz):
    make_idx_dataset(tmp_path / "mine", gz=gz)
    ds = data.load(f"idx:{tmp_path / 'mine'}")
    arrays = make_arrays()
    assert ds.name == f"idx:{tmp_path / 'mine'}" and ds.shape == (6, 5)
    np.testing.assert_array_equal(ds.train_x, arrays["train_x"].astype(np.float32) / 255)
    np.testing.assert_array_equal(ds.test_y, arrays["test_y"])
    assert ds.train_x[0, 0, 0] == 0.0 and ds.train_x[0, 0, 1] == 1.0
    assert ds.classes == tuple(str(i) for i in range(10))
    assert ds.test_x.dtype == np.float32 and ds.train_y.dtype == np.int64


def test_cache_returns_same_object_until_a_file_changes(tmp_path):
    files = make_idx_dataset(tmp_path / "d")
    first = data.load(f"idx:{tmp_path / 'd'}")
    assert data.load(f"idx:{tmp_path / 'd'}") is first
    write_idx(files["test_y"].with_suffix(""), np.zeros(10), gz=True)  # same size, new mtime
    second = data.load(f"idx:{tmp_path / 'd'}")
    assert second is not first and not second.test_y.any()


def test_not_found_message(tmp_path, no_system_data):
    with pytest.raises(data.DatasetNotFound) as err:
        data.load("fashion-mnist")
    msg = str(err.value)
    assert isinstance(err.value, FileNotFoundError)
    assert "Fashion-MNIST" in msg and str(data.SYSTEM_DATA_DIR / "fashion-mnist") in msg
    assert str(data.cache_dir() / "fashion-mnist") in msg
    assert "download=True" in msg and "--download" in msg and "Download button" in msg
    assert "apt-get install dataset-fashion-mnist" in msg


def test_partial_folder_says_what_is_missing(tmp_path):
    files = make_idx_dataset(tmp_path / "p")
    files["test_y"].unlink()
    with pytest.raises(data.DatasetNotFound, match="missing t10k-labels-idx1-ubyte"):
        data.load(f"idx:{tmp_path / 'p'}")


def test_unknown_name():
    with pytest.raises(data.DatasetError, match="unknown dataset 'cifar'"):
        data.load("cifar")


# --------------------------------------------------------------------------- bad files


def _truncate(path: Path, gz: bool):
    blob = idx_bytes(make_arrays()["train_x"])[:-7]
    path.write_bytes(gzip.compress(blob) if gz else blob)


def _corrupt_gzip(path: Path, gz: bool):
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2: len(blob) // 2 + 8] = b"\xff" * 8
    path.write_bytes(bytes(blob))


BAD_FILES = {
    # case: (file, gzipped?, how to spoil it, message fragment)
    "truncated": ("train_x", False, _truncate, "truncated"),
    "truncated-inside-gzip": ("train_x", True, _truncate, "truncated"),
    "trailing-bytes": ("test_x", False, lambda p, gz: p.write_bytes(p.read_bytes() + b"\0"),
                       "trailing bytes"),
    "wrong-magic": ("train_x", False, lambda p, gz: p.write_bytes(idx_bytes(np.zeros(5))),
                    "magic number 0x00000801"),
    "png-renamed": ("test_x", False,
                    lambda p, gz: p.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200)), "PNG"),
    "text-renamed-gz": ("train_y", True, lambda p, gz: p.write_text("hello, world\n"),
                        "not a gzip file"),
    "empty": ("test_y", False, lambda p, gz: p.write_bytes(b""), "too short"),
    "corrupt-gzip": ("train_x", True, _corrupt_gzip, "gzip"),
    "truncated-gzip": ("test_x", True,
                       lambda p, gz: p.write_bytes(p.read_bytes()[:-30]), "gzip"),
    "count-mismatch": ("test_y", True,
                       lambda p, gz: p.write_bytes(gzip.compress(idx_bytes(np.zeros(9)))),
                       "9 labels"),
    "label-out-of-range": ("train_y", False,
                           lambda p, gz: p.write_bytes(idx_bytes(np.full(20, 10))),
                           "label 10 at index 0 is out of range"),
    "image-size-mismatch": ("test_x", False,
                            lambda p, gz: p.write_bytes(idx_bytes(np.zeros((10, 5, 6)))),
                            "5x6"),
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_bad_file_is_reported_with_its_path(tmp_path, case):
    key, gz, spoil, fragment = BAD_FILES[case]
    files = make_idx_dataset(tmp_path / "bad", gz=gz)
    spoil(files[key], gz)
    with pytest.raises(data.DatasetError) as err:
        data.load(f"idx:{tmp_path / 'bad'}")
    assert str(files[key]) in str(err.value)
    assert fragment in str(err.value)


def test_label_out_of_range_for_a_known_dataset(tmp_path, monkeypatch):
    monkeypatch.setenv("VIGUI_DATA_DIR", str(tmp_path / "env"))
    files = make_idx_dataset(tmp_path / "env" / "fashion-mnist")
    write_idx(files["test_y"].with_suffix(""), np.full(10, 12), gz=True)
    with pytest.raises(data.DatasetError, match="out of range 0..9"):
        data.load("fashion-mnist")


# --------------------------------------------------------------------------- downloads


class _Handler(BaseHTTPRequestHandler):
    """Serves ``server.routes[path] = (mode, body)``; mode is ok, 500 or truncate."""

    def do_GET(self):
        self.server.requests.append(self.path)
        mode, body = self.server.routes.get(self.path, ("404", b""))
        if mode in ("404", "500"):
            self.send_error(int(mode))
            return
        self.send_response(200)
        # "truncate" promises more than it sends, then the connection closes (HTTP/1.0).
        extra = 1000 if mode == "truncate" else 0
        self.send_header("Content-Length", str(len(body) + extra))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class _Server(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # a client that hangs up (cancel test) is expected, not worth a traceback


@pytest.fixture
def server():
    srv = _Server(("127.0.0.1", 0), _Handler)
    srv.routes, srv.requests = {}, []
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.02},
                              name="test-http", daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(timeout=5)


def serve(srv, prefix: str, files: dict[str, bytes], mode="ok") -> str:
    for name, body in files.items():
        srv.routes[f"/{prefix}/{name}"] = (mode, body)
    return f"http://127.0.0.1:{srv.server_port}/{prefix}/"


@pytest.fixture
def payload() -> dict[str, bytes]:
    """A small valid dataset as the four .gz downloads."""
    arrays = make_arrays()
    return {stem + ".gz": gzip.compress(idx_bytes(arrays[key]))
            for key, stem in data.IDX_FILES.items()}


def sums(files: dict[str, bytes]) -> dict[str, str]:
    return {name: md5(body) for name, body in files.items()}


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_published_checksum_table_is_complete():
    for name in ("mnist", "fashion-mnist", "kmnist"):
        assert set(data.CHECKSUMS[name]) == set(GZ_NAMES)
        assert all(len(h) == 32 and int(h, 16) >= 0 for h in data.CHECKSUMS[name].values())
        assert data.MIRRORS[name]


def test_download_then_load(server, payload, monkeypatch, no_system_data):
    url = serve(server, "m1", payload)
    monkeypatch.setitem(data.MIRRORS, "mnist", (url,))
    monkeypatch.setitem(data.CHECKSUMS, "mnist", sums(payload))
    calls = []
    ds = data.load("mnist", download=True, progress=lambda *a: calls.append(a))
    dest = data.cache_dir() / "mnist"
    assert Path(ds.source) == dest and len(ds.train_x) == 20
    assert leftovers(dest) == sorted(GZ_NAMES)
    for name, body in payload.items():
        assert (dest / name).read_bytes() == body
        assert (len(body), len(body), name) in calls  # progress reached the end of each file
    # Present now: found without downloading again.
    assert data.available()["mnist"] == str(dest)
    before = len(server.requests)
    assert data.load("mnist", download=True) is ds
    assert len(server.requests) == before


def test_download_into_root(server, payload, tmp_path, monkeypatch, no_system_data):
    monkeypatch.setitem(data.MIRRORS, "kmnist", (serve(server, "m1", payload),))
    monkeypatch.setitem(data.CHECKSUMS, "kmnist", sums(payload))
    ds = data.load("kmnist", root=tmp_path / "r", download=True)
    assert Path(ds.source) == tmp_path / "r" / "kmnist"
    assert ds.classes == data.KMNIST_CLASSES


def test_fetch_keeps_good_files_and_replaces_bad_ones(server, payload, tmp_path):
    url = serve(server, "m1", payload)
    dest = data.fetch("mnist", dest=tmp_path / "d", mirrors=[url], checksums=sums(payload))
    (dest / GZ_NAMES[1]).write_bytes(b"stale")
    server.requests.clear()
    data.fetch("mnist", dest=dest, mirrors=[url], checksums=sums(payload))
    assert server.requests == [f"/m1/{GZ_NAMES[1]}"]
    assert (dest / GZ_NAMES[1]).read_bytes() == payload[GZ_NAMES[1]]


def test_wrong_checksum(server, payload, tmp_path):
    url = serve(server, "m1", payload)
    bad = dict(sums(payload), **{GZ_NAMES[0]: "0" * 32})
    with pytest.raises(data.DownloadError) as err:
        data.fetch("mnist", dest=tmp_path / "d", mirrors=[url], checksums=bad)
    msg = str(err.value)
    assert GZ_NAMES[0] in msg and "0" * 32 in msg and md5(payload[GZ_NAMES[0]]) in msg
    assert leftovers(tmp_path / "d") == []


def test_truncated_transfer(server, payload, tmp_path):
    url = serve(server, "m1", payload, mode="truncate")
    with pytest.raises(data.DownloadError, match="truncated") as err:
        data.fetch("mnist", dest=tmp_path / "d", mirrors=[url], checksums=sums(payload))
    assert GZ_NAMES[0] in str(err.value)
    assert leftovers(tmp_path / "d") == []


def test_server_error_falls_back_to_next_mirror(server, payload, tmp_path):
    broken = serve(server, "m1", payload, mode="500")
    good = serve(server, "m2", payload)
    dest = data.fetch("mnist", dest=tmp_path / "d", mirrors=[broken, good],
                      checksums=sums(payload))
    assert leftovers(dest) == sorted(GZ_NAMES)
    assert server.requests[:2] == [f"/m1/{GZ_NAMES[0]}", f"/m2/{GZ_NAMES[0]}"]


def test_all_mirrors_failing(server, payload, tmp_path):
    mirrors = [serve(server, "m1", payload, mode="500"),
               f"http://127.0.0.1:{closed_port()}/mnist/",
               f"http://127.0.0.1:{closed_port()}/mnist/"]
    with pytest.raises(data.DownloadError) as err:
        data.fetch("mnist", dest=tmp_path / "d", mirrors=mirrors, checksums=sums(payload))
    msg = str(err.value)
    assert GZ_NAMES[0] in msg and "500" in msg
    for mirror in mirrors:
        assert mirror + GZ_NAMES[0] in msg
    assert leftovers(tmp_path / "d") == []


def test_offline_load_with_download(monkeypatch, no_system_data):
    monkeypatch.setitem(data.MIRRORS, "mnist", (f"http://127.0.0.1:{closed_port()}/",))
    with pytest.raises(data.DownloadError, match="train-images-idx3-ubyte.gz"):
        data.load("mnist", download=True)
    assert leftovers(data.cache_dir() / "mnist") == []


def test_cancel_mid_download(server, payload, tmp_path):
    big = dict(payload, **{GZ_NAMES[0]: np.random.default_rng(0).bytes(2_000_000)})
    url = serve(server, "m1", big)
    second = serve(server, "m2", big)
    progress = []

    def cancel():
        return any(done > 0 for done, _, _ in progress)

    with pytest.raises(data.DownloadCancelled):
        data.fetch("mnist", dest=tmp_path / "d", mirrors=[url, second], checksums=sums(big),
                   progress=lambda *a: progress.append(a), cancel=cancel)
    assert 0 < progress[-1][0] < 2_000_000  # stopped part-way
    assert leftovers(tmp_path / "d") == []
    assert server.requests == [f"/m1/{GZ_NAMES[0]}"]  # cancelling does not try other mirrors
