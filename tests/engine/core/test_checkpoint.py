"""Checkpoints: roundtrip, atomic writes, and clear errors that leave the model alone."""
import os

import numpy as np
import pytest
import torch

from engine.core import checkpoint
from engine.core.checkpoint import CheckpointError
from engine.data import datasets as data
from engine.vae.model import VAEConfig, VAEExperiment

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def make(digits, seed=0, steps=0, **kw):
    kw.setdefault("hidden", (32,))
    exp = VAEExperiment(VAEConfig(device="cpu", **kw), seed=seed, dataset=digits)
    for _ in range(steps):
        exp.step()
    return exp


def weights(exp):
    return {k: v.clone() for k, v in exp.model.state_dict().items()}


def assert_same_weights(exp, saved):
    state = exp.model.state_dict()
    assert state.keys() == saved.keys()
    for k in saved:
        assert torch.equal(state[k], saved[k]), k


def save_plain(path, **kw):
    args = dict(kind="vae", state_dict={"w": torch.ones(2)}, config={"a": 1},
                dataset="digits", step=3, metrics=[{"step": 1.0, "loss": 2.0}])
    args.update(kw)
    return checkpoint.save(path, **args)


# -- generic module -----------------------------------------------------------------
def test_save_load_plain(tmp_path):
    path = save_plain(tmp_path / "a.pt", extra={"note": "x", "t": torch.zeros(3)})
    ck = checkpoint.load(path, kind="vae")
    assert ck["format"] == "vigui-checkpoint" and ck["version"] == 1
    assert ck["step"] == 3 and ck["dataset"] == "digits" and ck["config"] == {"a": 1}
    assert torch.equal(ck["state_dict"]["w"], torch.ones(2))
    assert ck["metrics"] == [{"step": 1.0, "loss": 2.0}] and ck["extra"]["note"] == "x"
    assert os.listdir(tmp_path) == ["a.pt"]  # no temp file left


def test_save_refuses_non_plain_data(tmp_path):
    with pytest.raises(TypeError, match=r"config\.f"):
        save_plain(tmp_path / "a.pt", config={"f": object()})
    assert os.listdir(tmp_path) == []


def test_failed_write_leaves_existing_file_intact(tmp_path, monkeypatch):
    path = save_plain(tmp_path / "a.pt")
    before = path.read_bytes()

    def broken_save(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_plain(path, step=99)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["a.pt"]


@pytest.mark.parametrize("content, message", [
    (None, "no such"),
    (b"", "empty"),
    (b"hello, I am a text file\n", "text file"),
    (b"\x89PNG\r\n\x1a\n" + bytes(100), "PNG"),
    (b'{"format": "vigui-checkpoint"}', "JSON"),
    (b"PK\x03\x04" + bytes(50), "truncated or corrupt"),
])
def test_unreadable_files(tmp_path, content, message):
    path = tmp_path / "bad.pt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(CheckpointError, match=message) as info:
        checkpoint.load(path)
    assert str(path) in str(info.value)


def test_truncated_checkpoint(tmp_path):
    path = save_plain(tmp_path / "a.pt", state_dict={"w": torch.ones(10_000)})
    blob = path.read_bytes()
    for cut in (len(blob) // 2, len(blob) - 30, 10):
        path.write_bytes(blob[:cut])
        with pytest.raises(CheckpointError, match="bad.pt|a.pt"):
            checkpoint.load(path)


def test_foreign_torch_files(tmp_path):
    path = tmp_path / "foreign.pt"
    torch.save(torch.nn.Linear(2, 2).state_dict(), path)
    with pytest.raises(CheckpointError, match="not a vigui checkpoint"):
        checkpoint.load(path)
    torch.save(torch.zeros(3), path)
    with pytest.raises(CheckpointError, match="not a vigui checkpoint"):
        checkpoint.load(path)
    torch.save({"x": torch.nn.Linear(2, 2)}, path)  # needs code to unpickle: refused
    with pytest.raises(CheckpointError, match="could run code"):
        checkpoint.load(path)


def test_wrong_kind_and_version(tmp_path):
    path = save_plain(tmp_path / "a.pt", kind="bbb")
    with pytest.raises(CheckpointError, match="'bbb' checkpoint, not a 'vae'"):
        checkpoint.load(path, kind="vae")
    ck = checkpoint.load(path)
    ck["version"] = 2
    torch.save(ck, path)
    with pytest.raises(CheckpointError, match="version 2"):
        checkpoint.load(path)


# -- VAE checkpoints ------------------------------------------------------------------
def test_vae_roundtrip_and_resume(tmp_path, digits):
    a = make(digits, steps=20)
    path = tmp_path / "vae.pt"
    a.save(path)
    b = VAEExperiment.load(path, dataset=digits)
    assert b.config == a.config and b.steps == 20 and b.samples_seen == a.samples_seen
    assert_same_weights(b, weights(a))
    sa, sb = a.snapshot(), b.snapshot()
    np.testing.assert_array_equal(sa["reconstructions"], sb["reconstructions"])
    np.testing.assert_array_equal(a.metrics.get("loss")[1], b.metrics.get("loss")[1])
    assert b.metrics.state() == a.metrics.state()
    assert a.evaluate(k=5) == b.evaluate(k=5)
    # Resuming continues exactly: same Adam state, shuffle position and noise.
    assert [a.step()["loss"] for _ in range(15)] == [b.step()["loss"] for _ in range(15)]


def test_load_weights_replaces_weights(tmp_path, digits):
    src = make(digits, seed=1, steps=10)
    src.save(tmp_path / "src.pt")
    dst = make(digits, seed=2, steps=3)
    dst.load_weights(tmp_path / "src.pt")
    assert_same_weights(dst, weights(src))
    assert dst.steps == 3  # its own history goes on
    dst.step()


def _mismatched(tmp_path, digits, name, **kw):
    path = tmp_path / name
    make(digits, steps=2, **kw).save(path)
    return path


@pytest.mark.parametrize("kw, message", [
    ({"latent": 4}, "checkpoint has latent=4 but this model has latent=2"),
    ({"hidden": (48,)}, r"checkpoint has hidden=\(48\) but this model has hidden=\(32\)"),
    ({"likelihood": "gaussian"}, "likelihood=gaussian but this model has likelihood=bernoulli"),
])
def test_other_architecture_refused(tmp_path, digits, kw, message):
    path = _mismatched(tmp_path, digits, "other.pt", **kw)
    exp = make(digits, steps=2)
    before = weights(exp)
    with pytest.raises(CheckpointError, match=message):
        exp.load_weights(path)
    assert_same_weights(exp, before)
    exp.step()


def test_bad_files_leave_running_model_untouched(tmp_path, digits):
    exp = make(digits, steps=2)
    before = weights(exp)
    good = tmp_path / "good.pt"
    exp.save(good)
    blob = good.read_bytes()
    cases = {
        "missing.pt": None,
        "empty.pt": b"",
        "truncated.pt": blob[: len(blob) // 2],
        "text.pt": b"not a checkpoint\n",
        "foreign.pt": "foreign",
        "bbb.pt": "bbb",
        "nan.pt": "nan",
    }
    for name, content in cases.items():
        path = tmp_path / name
        if content == "foreign":
            torch.save(exp.model.state_dict(), path)  # a bare state dict
        elif content == "bbb":
            save_plain(path, kind="bbb")
        elif content == "nan":
            ck = checkpoint.load(good)
            ck["state_dict"]["mu_head.bias"][0] = float("nan")
            torch.save(ck, path)
        elif content is not None:
            path.write_bytes(content)
        with pytest.raises(CheckpointError, match=name):
            exp.load_weights(path)
        with pytest.raises(ValueError):
            VAEExperiment.load(path, dataset=digits)
        assert_same_weights(exp, before)
    exp.step()


def test_other_dataset_refused(tmp_path, digits):
    fake = data.Dataset("mini", np.zeros((20, 4, 4), np.float32), np.zeros(20, np.int64),
                        np.zeros((10, 4, 4), np.float32), np.zeros(10, np.int64),
                        (4, 4), tuple("0123456789"), "test")
    other = VAEExperiment(VAEConfig(dataset="mini", hidden=(32,), device="cpu"),
                          dataset=fake)
    other.save(tmp_path / "mini.pt")
    exp = make(digits)
    before = weights(exp)
    with pytest.raises(CheckpointError, match=r"trained on mini \(16 pixels.*digits \(64\)"):
        exp.load_weights(tmp_path / "mini.pt")
    assert_same_weights(exp, before)


def test_gpu_checkpoint_opens_where_that_device_is_missing(tmp_path, digits):
    exp = make(digits, steps=2)
    exp.save(tmp_path / "gpu.pt")
    ck = checkpoint.load(tmp_path / "gpu.pt")
    ck["config"]["device"] = "cuda:63"  # not present on any test machine
    torch.save(ck, tmp_path / "gpu.pt")
    loaded = VAEExperiment.load(tmp_path / "gpu.pt", dataset=digits)
    assert loaded.config.device == "auto" and loaded.steps == 2
    assert_same_weights(loaded, weights(exp))


# -- peek: cheap reading ---------------------------------------------------------------------
def test_peek_reads_what_load_reads_without_building(tmp_path, digits):
    exp = make(digits, steps=7, latent=3)
    path = tmp_path / "vae.pt"
    exp.save(path)
    info = checkpoint.peek(path, kind="vae")
    full = checkpoint.load(path)
    assert (info.kind, info.dataset, info.step) == ("vae", "digits", 7)
    assert info.config == full["config"] and info.metrics == full["metrics"]
    assert info.shapes == {k: tuple(v.shape) for k, v in full["state_dict"].items()}
    assert info.shapes["mu_head.weight"] == (3, 32)
    assert info.extra["seed"] == 0 and info.extra["samples_seen"] == exp.samples_seen
    assert info.extra["shape"] == [8, 8] and info.extra["epoch"] == exp.epoch
    moments = info.extra["optimizer"]["state"][0]["exp_avg"]
    assert moments == checkpoint.TensorInfo(tuple(full["extra"]["optimizer"]["state"][0]
                                                  ["exp_avg"].shape), "float32")
    config, info2 = VAEExperiment.peek(path)
    assert config == exp.config and info2.step == 7


def test_peek_is_cheap_no_torch_no_dataset(tmp_path, digits):
    import subprocess
    import sys

    path = tmp_path / "vae.pt"
    make(digits, steps=2).save(path)
    code = ("import sys; from engine.core import checkpoint; "
            f"p = checkpoint.peek({str(path)!r}); "
            "print(p.step, p.kind, 'torch' in sys.modules, 'engine.data.datasets' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert out.stdout.split() == ["2", "vae", "False", "False"], out.stderr


def test_peek_refuses_what_load_refuses(tmp_path, digits):
    exp = make(digits, steps=1)
    good = tmp_path / "good.pt"
    exp.save(good)
    blob = good.read_bytes()
    (tmp_path / "empty.pt").write_bytes(b"")
    (tmp_path / "truncated.pt").write_bytes(blob[: len(blob) // 2])
    (tmp_path / "text.pt").write_bytes(b"hello\n")
    torch.save(exp.model.state_dict(), tmp_path / "foreign.pt")
    save_plain(tmp_path / "bbb.pt", kind="bbb")
    for name, message in (("missing.pt", "no such"), ("empty.pt", "empty"),
                          ("truncated.pt", "truncated or corrupt"), ("text.pt", "text file"),
                          ("foreign.pt", "not a vigui checkpoint"),
                          ("bbb.pt", "'bbb' checkpoint, not a 'vae'")):
        with pytest.raises(CheckpointError, match=message):
            checkpoint.peek(tmp_path / name, kind="vae")
    with pytest.raises(CheckpointError, match="invalid VAE config"):
        ck = checkpoint.load(good)
        ck["config"]["latent"] = 1000
        torch.save(ck, tmp_path / "badcfg.pt")
        VAEExperiment.peek(tmp_path / "badcfg.pt")


def test_peek_falls_back_to_torch_for_other_layouts(tmp_path):
    path = tmp_path / "legacy.pt"
    payload = {"format": checkpoint.FORMAT, "version": checkpoint.VERSION, "kind": "vae",
               "state_dict": {"w": torch.ones(2, 3)}, "config": {}, "dataset": "digits",
               "step": 4, "metrics": [], "extra": {}}
    torch.save(payload, path, _use_new_zipfile_serialization=False)  # the pre-1.6 format
    info = checkpoint.peek(path)
    assert info.shapes == {"w": (2, 3)} and info.step == 4


def test_old_list_of_rows_metrics_still_load(tmp_path, digits):
    exp = make(digits, steps=3)
    exp.save(tmp_path / "new.pt")
    ck = checkpoint.load(tmp_path / "new.pt")
    ck["metrics"] = [{"step": 1.0, "loss": 5.0}, {"step": 2.0, "loss": 4.0},
                     {"step": 3.0, "loss": 3.0, "test_loss": 3.5}]
    torch.save(ck, tmp_path / "old.pt")
    old = VAEExperiment.load(tmp_path / "old.pt", dataset=digits)
    assert old.metrics.get("loss")[1].tolist() == [5.0, 4.0, 3.0]
    assert old.metrics.get("test_loss")[0].tolist() == [3.0]
    old.step()
    assert old.metrics.get("loss")[0].tolist() == [1.0, 2.0, 3.0, 4.0]
