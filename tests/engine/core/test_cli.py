"""The CLI: flags built from the config declarations, one-line chapter registration."""
import json
from dataclasses import dataclass

import numpy as np
import pytest

from engine import cli
from engine.core.params import Config, param, specs
from engine.core.runtime import Experiment


def subparsers():
    ap = cli.build_parser()
    action = next(a for a in ap._actions if a.dest == "chapter")
    return action.choices


def test_every_declared_parameter_is_a_flag_with_the_engines_default():
    parsers = subparsers()
    assert {"cavi", "vae"} <= set(parsers)
    for name, p in parsers.items():
        cmd = p.get_default("command")
        ns = p.parse_args([])
        for spec in specs(cmd.config):
            if spec.name in cmd.exclude:
                continue
            default = cmd.defaults.get(spec.name, spec.default)
            value = getattr(ns, spec.name)
            if spec.kind == "sizes":
                value = tuple(int(v) for v in value.split(","))
            assert value == default, (name, spec.name)


def test_cli_overrides_are_only_the_documented_ones():
    # Headless VAE runs need an end; every other default is the engine's.
    parsers = subparsers()
    assert parsers["vae"].get_default("command").defaults == {"epochs": 5}
    assert parsers["cavi"].get_default("command").defaults == {}
    assert parsers["cavi"].parse_args([]).alpha == 1e-4


def test_cavi_takes_no_device_flag_and_vae_does():
    parsers = subparsers()
    with pytest.raises(SystemExit):
        parsers["cavi"].parse_args(["--device", "cpu"])
    assert parsers["vae"].parse_args(["--device", "cpu"]).device == "cpu"


def test_cavi_json_holds_the_elbo_history(capsys):
    assert cli.main(["cavi", "--n", "200", "--k", "2", "--seed", "3", "--json", "--quiet"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["converged"] and out["sweeps"] == len(out["elbo_history"]) == out["steps"]
    assert np.all(np.diff(out["elbo_history"]) >= -1e-9 * abs(out["elbo"]))
    assert out["history"]["elbo"]["value"] == out["elbo_history"]
    assert out["config"]["data_seed"] == 3 and out["config"]["init_seed"] == 3


def test_bad_flag_values_exit_2_naming_the_argument(capsys):
    assert cli.main(["cavi", "--k", "11", "--quiet"]) == 2
    assert "K must be between 1 and 10" in capsys.readouterr().err
    assert cli.main(["vae", "--hidden", "4", "--quiet"]) == 2
    assert "hidden entry must be between 8 and 4096" in capsys.readouterr().err


# -- registering a chapter ------------------------------------------------------------------
@dataclass(frozen=True)
class CountConfig(Config):
    stop: int = param(5, lo=1, hi=100, label="Stop", help="steps to run")
    scale: float = param(1.0, lo=0.0, hi=10.0)


class CountExperiment(Experiment):
    config_class = CountConfig

    def _step(self):
        return {"value": self.config.scale * (self.steps + 1), "seed": float(self.seed)}

    @property
    def done(self):
        return self.steps >= self.config.stop


@pytest.fixture
def registered():
    cli.subcommand("count-test", CountExperiment, help="counts")
    yield
    del cli._REGISTRY["count-test"]


def test_a_one_line_registration_gives_flags_and_a_default_run(registered, capsys):
    assert cli.main(["count-test", "--stop", "4", "--scale", "2", "--seed", "7", "--json",
                     "--quiet"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["chapter"] == "count-test" and out["steps"] == 4
    assert out["history"]["value"] == {"step": [1, 2, 3, 4], "value": [2, 4, 6, 8]}
    assert out["test"] == {"step": 4, "value": 8, "seed": 7}  # evaluate(): the last metrics
    assert out["config"] == {"stop": 4, "scale": 2.0}
    assert cli.main(["count-test", "--stop", "0", "--quiet"]) == 2
    assert "stop must be between 1 and 100" in capsys.readouterr().err


def test_a_name_registered_twice_by_two_experiments_is_refused(registered):
    class Other(CountExperiment):
        pass

    with pytest.raises(ValueError, match="registered twice"):
        cli.subcommand("count-test", Other, help="clash")
    cli.subcommand("count-test", CountExperiment, help="counts")  # a re-import is fine
