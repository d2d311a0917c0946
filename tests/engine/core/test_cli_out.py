"""The CLI keeps the user's work: --out is checked before training, a checkpoint that
cannot be written is saved elsewhere and said, evaluation says it is running, flags
say what they accept, results report only what was trained."""
import json
import os
from dataclasses import dataclass

import pytest

from engine import cli
from engine.core.params import Config, param
from engine.core.runtime import Experiment


@dataclass(frozen=True)
class SaveConfig(Config):
    stop: int = param(3, lo=1, hi=100)


class SavingExperiment(Experiment):
    """Counts its steps; ``save`` writes the count (a real file, read back below)."""
    config_class = SaveConfig
    trained = 0
    on_last_step = None  # a hook: what the world does to the disk while it trains

    def _step(self):
        SavingExperiment.trained += 1
        if self.steps + 1 == self.config.stop and SavingExperiment.on_last_step:
            SavingExperiment.on_last_step()
        return {"value": float(self.steps + 1)}

    @property
    def done(self):
        return self.steps >= self.config.stop

    def save(self, path):
        with open(path, "w") as f:
            f.write(f"steps={self.steps}")


@pytest.fixture
def saving():
    cli.subcommand("save-test", SavingExperiment, help="saves")
    SavingExperiment.trained, SavingExperiment.on_last_step = 0, None
    yield
    del cli._REGISTRY["save-test"]


@pytest.mark.parametrize("target, words", [
    (lambda tmp: tmp, "is a directory; give a file name such as"),
    (lambda tmp: tmp / "no" / "such" / "m.pt", "does not exist"),
])
def test_a_bad_out_is_refused_before_any_training(saving, capsys, tmp_path, target, words):
    out = target(tmp_path)
    assert cli.main(["save-test", "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert words in err and str(out) in err and "Traceback" not in err
    assert SavingExperiment.trained == 0


def test_a_read_only_folder_is_refused_before_training(saving, capsys, tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root writes anywhere")
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        assert cli.main(["save-test", "--out", str(folder / "m.pt"), "--quiet"]) == 2
        assert "is not writable" in capsys.readouterr().err
        assert SavingExperiment.trained == 0
    finally:
        folder.chmod(0o700)


def test_a_checkpoint_that_cannot_be_written_is_saved_elsewhere(saving, capsys, tmp_path):
    folder = tmp_path / "usb"
    folder.mkdir()
    # The folder disappears while training (a stick pulled out): the model must survive.
    SavingExperiment.on_last_step = lambda: folder.rmdir()
    rc = cli.main(["save-test", "--out", str(folder / "m.pt"), "--json", "--quiet"])
    captured = capsys.readouterr()
    assert rc == 1
    result = json.loads(captured.out)
    rescue = result["checkpoint"]
    assert rescue != str(folder / "m.pt") and open(rescue).read() == "steps=3"
    assert f"could not write {folder / 'm.pt'}" in captured.err and rescue in captured.err
    assert result["checkpoint_error"] in captured.err
    os.remove(rescue)
    os.rmdir(os.path.dirname(rescue))


def test_a_good_out_is_written(saving, capsys, tmp_path):
    assert cli.main(["save-test", "--out", str(tmp_path / "m.pt"), "--json", "--quiet"]) == 0
    assert json.loads(capsys.readouterr().out)["checkpoint"] == str(tmp_path / "m.pt")
    assert (tmp_path / "m.pt").read_text() == "steps=3"


def test_evaluation_is_announced_after_training(saving, capsys):
    assert cli.main(["save-test", "--stop", "2"]) == 0
    err = capsys.readouterr().err.splitlines()
    trained = next(i for i, line in enumerate(err) if "save-test: trained" in line)
    assert "save-test: evaluating on the test set" in err[trained + 1]
    assert "save-test: evaluated in" in err[trained + 2]


def test_vi_help_gives_both_sections_ranges(capsys):
    with pytest.raises(SystemExit):
        cli.main(["vi", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "(1 to 1000; default 1) [bbvi: 1 to 4096; default 64]" in text


def test_cvae_reports_each_networks_rate(capsys, torch_one_thread):
    assert cli.main(["cvae", "--dataset", "digits", "--epochs", "1", "--hidden", "32,32",
                     "--latent", "4", "--particles", "2", "--is-samples", "4", "--json",
                     "--quiet"]) == 0
    entry = json.loads(capsys.readouterr().out)["results"][0]
    base, cvae, both = (entry[k] for k in ("baseline_samples_per_s", "cvae_samples_per_s",
                                           "samples_per_s"))
    # the combined rate is total images / total time: between the two networks' own rates
    assert min(base, cvae) * (1 - 1e-9) <= both <= max(base, cvae) * (1 + 1e-9)
    assert base != cvae


def test_a_numpy_chapter_parses_without_importing_torch():
    """`python -m engine cavi --bogus` imports CAVI's chapter alone (numpy), not torch."""
    import subprocess
    import sys

    code = ("import sys\nfrom engine import cli\ntry:\n    cli.main(['cavi', '--bogus'])\n"
            "except SystemExit as e:\n    print(e.code, 'torch' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.stdout.split() == ["2", "False"], proc.stderr
    assert "unrecognized arguments: --bogus" in proc.stderr
