"""`python -m engine bbb`: both tasks, task defaults, checkpoints, bad input."""
import json

import pytest

from engine import cli
from engine.bbb import ClassificationExperiment, RegressionExperiment

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def run(capsys, *argv):
    rc = cli.main(["bbb", "--json", "--quiet", *argv])
    out = capsys.readouterr()
    return rc, (json.loads(out.out) if rc == 0 else out.err)


def test_regression_task_uses_its_own_defaults(capsys, tmp_path):
    rc, res = run(capsys, "--task", "regression", "--epochs", "20", "--out", str(tmp_path / "r.pt"))
    assert rc == 0 and res["task"] == "regression"
    assert res["config"]["hidden"] == [64, 64] and res["config"]["lr"] == 0.01
    assert res["steps"] == 20 * 4 and {"rmse", "band_at_1.1", "noise_level"} <= set(res["test"])
    assert "kl" in res["history"] and "nll" in res["history"]
    back = RegressionExperiment.load(tmp_path / "r.pt")
    assert back.steps == 80


def test_regression_flags_given_win(capsys):
    rc, res = run(capsys, "--task", "regression", "--epochs", "2", "--hidden", "8", "--lr", "0.02",
                  "--function", "sine", "--n-points", "30", "--batch-size", "10")
    assert rc == 0
    cfg = res["config"]
    assert (cfg["hidden"], cfg["lr"], cfg["function"], cfg["n_points"],
            cfg["batch_size"]) == ([8], 0.02, "sine", 30, 10)
    assert res["steps"] == 6


def test_classify_task_on_digits(capsys, tmp_path):
    rc, res = run(capsys, "--dataset", "digits", "--hidden", "32", "--epochs", "2",
                  "--out", str(tmp_path / "c.pt"))
    assert rc == 0 and res["task"] == "classify"
    assert res["epochs"] == 2 and res["config"]["lr"] == 0.001
    assert {"test_error", "plain_test_error", "pruned_50_error", "entropy_bbb_ood"} <= set(res["test"])
    back = ClassificationExperiment.load(tmp_path / "c.pt", device="cpu")
    assert back.epoch == 2


@pytest.mark.parametrize("argv, word", [
    (["--task", "regression", "--lr", "0"], "lr"),
    (["--hidden", "0"], "hidden"),
    (["--prior", "mixture", "--kl-method", "closed", "--epochs", "1"], "closed"),
    (["--task", "regression", "--function", "spiral"], "function")])
def test_bad_flags_exit_2_naming_the_argument(capsys, argv, word):
    rc, err = run(capsys, *argv)
    assert rc == 2 and word in err


def test_without_the_plain_net_no_plain_error_is_reported(capsys):
    rc, res = run(capsys, "--dataset", "digits", "--hidden", "16", "--epochs", "1",
                  "--no-train-plain")
    assert rc == 0 and res["config"]["train_plain"] is False
    assert "test_error" in res["test"] and "plain_test_error" not in res["test"]
