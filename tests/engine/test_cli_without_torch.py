"""`vigui-train CHAPTER` answers --help, a bad flag, a bad value and a bad --out without
importing torch (issue 17, item 10: those answers took 7-11 s, torch's import). Each
chapter runs in a fresh interpreter, as `vigui-train` does, and that interpreter says
whether torch was loaded. The chapter packages still offer every public name (loaded on
first use), and configs pickled under their old module paths still load."""
import importlib
import json
import os
import pickle
import subprocess
import sys
from dataclasses import dataclass

import pytest

from engine import cli
from engine.core.params import Config, param
from engine.core.runtime import Experiment

#: per chapter: a value the chapter refuses before training (flag parsing, the config's
#: checks, or the chapter's own run), and the words of its message
BAD_VALUE = {
    "vae": (["--hidden", "4"], "hidden entry must be between 8 and 4096"),
    "musicvae": (["--dataset", "mozart"], "folder:"),
    "cvae": (["--quadrants", "5"], "quadrants must be 1, 2 or 3"),
    "bbb": (["--task", "regression", "--function", "spiral"], "function must be one of"),
    "vi": (["--section", "bbvi", "--rho", "1.5"], "rho must be between"),
    "cavi": (["--k", "11"], "K must be between 1 and 10"),
}
SAVES = ("vae", "musicvae", "cvae", "bbb")  # the chapters with --out

RUN = """
import contextlib, io, json, sys
from engine import cli

def run(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(argv)
        except SystemExit as exc:
            code = exc.code
    return [code, out.getvalue(), err.getvalue()]

cases = json.loads(sys.argv[1])
print(json.dumps({"results": {k: run(v) for k, v in cases.items()},
                  "torch": "torch" in sys.modules}))
"""


def in_fresh_interpreter(cases: dict[str, list[str]], *flags: str) -> tuple[dict, bool]:
    """Run ``cli.main(argv)`` for each case in one new interpreter: {case: [status, stdout,
    stderr]} and whether torch was imported there."""
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    proc = subprocess.run([sys.executable, *flags, "-c", RUN, json.dumps(cases)],
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    answer = json.loads(proc.stdout.splitlines()[-1])
    return answer["results"], answer["torch"]


@pytest.mark.parametrize("chapter", sorted(BAD_VALUE))
def test_help_and_argument_errors_answer_without_torch(chapter, tmp_path):
    bad, words = BAD_VALUE[chapter]
    cases = {"bogus": [chapter, "--bogus"], "help": [chapter, "--help"], "value": [chapter, *bad]}
    if chapter in SAVES:
        cases["out_dir"] = [chapter, "--out", str(tmp_path)]
        cases["out_folder"] = [chapter, "--out", str(tmp_path / "gone" / "m.pt")]
    results, torch_loaded = in_fresh_interpreter(cases)

    code, _, err = results["bogus"]
    assert code == 2 and "unrecognized arguments: --bogus" in err
    code, out, _ = results["help"]
    assert code == 0 and f"usage: vigui-train {chapter}" in out and "--seed" in out
    code, _, err = results["value"]
    assert code == 2 and words in err and "Traceback" not in err, err
    if chapter in SAVES:
        assert "--out" in out  # the help lists it
        code, _, err = results["out_dir"]
        assert code == 2 and "is a directory" in err and err.count("\n") == 1, err
        code, _, err = results["out_folder"]
        assert code == 2 and "does not exist" in err and err.count("\n") == 1, err
    assert not torch_loaded, f"`vigui-train {chapter}` imported torch before training"


def test_the_whole_parser_and_its_help_load_no_torch():
    results, torch_loaded = in_fresh_interpreter({"help": ["--help"]})
    code, out, _ = results["help"]
    assert code == 0 and all(name in out for name in BAD_VALUE)
    assert not torch_loaded


def test_the_console_entry_imports_no_torch_on_a_bad_flag():
    """`python -m engine vae --bogus` (what `vigui-train` runs), seen by -X importtime."""
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "engine", "vae", "--bogus"],
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 2 and "unrecognized arguments: --bogus" in proc.stderr
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines()
                if line.startswith("import time:")}
    assert "engine.vae.config" in imported  # the chapter was parsed from its config
    assert not {m for m in imported if m == "torch" or m.startswith("torch.")}


# -- the public names stay where they were -------------------------------------------------
PACKAGES = {"engine.vae": ["model"], "engine.musicvae": ["model"],
            "engine.cvae": ["evaluation", "experiment", "losses", "networks", "table", "trainers"],
            "engine.bbb": ["layers", "classify", "regression"]}


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_every_public_name_of_a_chapter_package_resolves_to_its_module(package):
    pkg = importlib.import_module(package)
    for name in pkg.__all__:
        value = getattr(pkg, name)
        homes = [importlib.import_module(f"{package}.{sub}") for sub in PACKAGES[package]]
        owners = [m for m in homes if name in vars(m)]
        assert not owners or all(getattr(m, name) is value for m in owners), (package, name)
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        pkg.nothing  # noqa: B018


def test_bbb_offers_every_layer_name():
    import engine.bbb
    import engine.bbb.layers

    assert set(engine.bbb.layers.__all__) <= set(engine.bbb.__all__)
    namespace: dict = {}
    exec("from engine.bbb import *", namespace)
    assert namespace["gradient_variance"] is engine.bbb.layers.gradient_variance


@pytest.mark.parametrize("old, new", [
    ("engine.vae.model:VAEConfig", "engine.vae.config:VAEConfig"),
    ("engine.musicvae.model:MusicVAEConfig", "engine.musicvae.config:MusicVAEConfig"),
    ("engine.bbb.classify:ClassifyConfig", "engine.bbb.config:ClassifyConfig"),
    ("engine.bbb.regression:RegressionConfig", "engine.bbb.config:RegressionConfig"),
    ("engine.vi.bbvi:BBVIConfig", "engine.vi.config:BBVIConfig"),
    ("engine.core.trainer:TrainingConfig", "engine.core.config:TrainingConfig"),
    ("engine.core.trainer:TrainingOptions", "engine.core.config:TrainingOptions"),
])
def test_a_config_pickled_under_its_old_module_still_loads(old, new):
    (old_mod, name), (new_mod, _) = old.split(":"), new.split(":")
    cls = getattr(importlib.import_module(new_mod), name)
    assert getattr(importlib.import_module(old_mod), name) is cls
    config = cls().replace(lr=0.05)
    data = pickle.dumps(config, protocol=0)  # text protocol: the module path is plain text
    assert f"{new_mod}\n{name}".encode() in data
    back = pickle.loads(data.replace(new_mod.encode(), old_mod.encode()))
    assert back == config and type(back) is cls


# -- registering an experiment by name -----------------------------------------------------
@dataclass(frozen=True)
class CountConfig(Config):
    stop: int = param(5, lo=1, hi=100)
    scale: float = param(1.0, lo=0.0, hi=10.0)


class CountExperiment(Experiment):
    config_class = CountConfig

    def _step(self):
        return {"value": self.config.scale * (self.steps + 1)}

    @property
    def done(self):
        return self.steps >= self.config.stop


@pytest.fixture
def lazy_count():
    cli.subcommand("count-lazy", f"{CountExperiment.__module__}:CountExperiment",
                   config=CountConfig, saves=False, help="counts, imported when run")
    yield
    del cli._REGISTRY["count-lazy"]


def test_an_experiment_named_by_module_runs_as_a_class_would(lazy_count, capsys):
    assert cli.main(["count-lazy", "--stop", "3", "--scale", "2", "--json", "--quiet"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["steps"] == 3 and out["history"]["value"]["value"] == [2, 4, 6]
    # the same experiment registered as a class is the same registration, not a clash
    cli.subcommand("count-lazy", CountExperiment, help="counts")


def test_a_named_experiment_needs_its_config_and_whether_it_saves():
    name = f"{CountExperiment.__module__}:CountExperiment"
    with pytest.raises(TypeError, match="config= and saves="):
        cli.subcommand("count-bad", name, help="x", saves=False)
    with pytest.raises(TypeError, match="config= and saves="):
        cli.subcommand("count-bad", name, help="x", config=CountConfig)
    with pytest.raises(TypeError, match="'module:Class'"):
        cli.subcommand("count-bad", "CountExperiment", help="x", config=CountConfig, saves=False)
    assert "count-bad" not in cli._REGISTRY
