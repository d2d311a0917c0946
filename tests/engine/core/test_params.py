"""Parameters declared once: validation and CLI flags come from the declaration."""
import argparse
from dataclasses import dataclass

import pytest

from engine.core.params import Config, add_arguments, from_args, param, parse_sizes, specs


@dataclass(frozen=True)
class Demo(Config):
    latent: int = param(2, lo=2, hi=64, label="Latent dims")
    lr: float = param(1e-3, lo=1e-6, hi=10.0, log=True)
    likelihood: str = param("bernoulli", choices=("bernoulli", "gaussian"))
    hidden: tuple[int, ...] = param((400,), lo=8, hi=4096, length=(1, 4))
    epochs: int | None = param(None, lo=1, hi=1000, optional=True, help="None: until stopped")
    learn: bool = param(False)
    internal: int = 7


def test_specs_follow_annotations():
    kinds = {p.name: p.kind for p in specs(Demo)}
    assert kinds == {"latent": "int", "lr": "float", "likelihood": "str", "hidden": "sizes",
                     "epochs": "int", "learn": "bool"}
    assert specs(Demo)[0].title == "Latent dims" and specs(Demo)[1].title == "Lr"


@pytest.mark.parametrize("field, value, words", [
    ("latent", 1, "latent must be between 2 and 64"),
    ("latent", 2.5, "latent must be an integer"),
    ("latent", True, "latent must be a number"),
    ("lr", float("nan"), "lr must be finite"),
    ("lr", 11.0, "lr must be between"),
    ("likelihood", "poisson", "likelihood must be one of"),
    ("hidden", (4,), "hidden entry must be between 8"),
    ("hidden", (8,) * 5, "hidden must have 1 to 4 entries"),
    ("epochs", 0, "epochs must be between"),
    ("learn", "yes", "learn must be true or false"),
])
def test_validation_names_the_parameter(field, value, words):
    with pytest.raises(ValueError, match=words):
        Demo(**{field: value}).validate()


def test_valid_values_are_canonical_and_dicts_round_trip():
    cfg = Demo(latent=4.0, hidden=[16, 8], epochs=3).validate()
    assert cfg.latent == 4 and isinstance(cfg.latent, int) and cfg.hidden == (16, 8)
    assert Demo.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown Demo field"):
        Demo.from_dict({"latent": 2, "colour": "red"})


def test_cli_flags_come_from_the_declaration():
    ap = argparse.ArgumentParser()
    add_arguments(ap, Demo)
    ns = ap.parse_args(["--latent", "8", "--hidden", "64,32", "--learn", "--lr", "0.01"])
    cfg = from_args(Demo, ns)
    assert (cfg.latent, cfg.hidden, cfg.learn, cfg.lr, cfg.epochs) == (8, (64, 32), True, 0.01, None)
    assert "internal" not in vars(ns)
    with pytest.raises(ValueError, match="latent must be between"):
        from_args(Demo, ap.parse_args(["--latent", "1000"]))
    with pytest.raises(SystemExit):
        ap.parse_args(["--latent", "x"])
    assert "1e-06 to 10" in ap.format_help()


def test_parse_sizes():
    assert parse_sizes(" 512, 256 ") == (512, 256)
    with pytest.raises(ValueError, match="hidden must be whole numbers"):
        parse_sizes("512,abc", "hidden")
