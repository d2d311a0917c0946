"""Exported notebooks run (nbclient, a real ipykernel) and end with the page's numbers.

For each chapter, the notebook of a page state is executed with a small step count and
its printed final numbers are compared, digit for digit (CPU, one thread), with the
engine run the page does for the same parameters and seed: the page's factory
(``make_factory``) written out here as the page builds it.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("matplotlib")

from engine.core.params import specs  # noqa: E402
from vigui.notebook import build_notebook, parse_final, write_notebook  # noqa: E402
from vigui.notebook.theory import html_to_markdown  # noqa: E402


def execute(nb, tmp_path):
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    return nb


def defaults(cls, **changes) -> dict:
    """The parameter column's values for a config (what capture_scene saves)."""
    return {**{p.name: p.default for p in specs(cls) if p.gui}, **changes}


def run_page(exp, steps):
    while not exp.done and exp.steps < steps:
        exp.step()
    return {name: exp.metrics.latest(name) for name in exp.metrics.names}


def same_numbers(notebook: dict, page: dict):
    assert notebook.keys() == page.keys()
    for name, value in page.items():
        assert (math.isnan(value) and math.isnan(notebook[name])) or notebook[name] == value, name


@pytest.fixture(autouse=True)
def one_thread(monkeypatch):
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# -- one notebook per chapter ------------------------------------------------------------------
def test_cavi_notebook_ends_with_the_pages_numbers(tmp_path):
    from engine.cavi.model import CaviConfig, CaviExperiment

    params = defaults(CaviConfig, n=400, data_seed=3, init_seed=1, mode="gradient", alpha=2e-4)
    nb = execute(build_notebook("cavi", params, steps=25), tmp_path)
    page = run_page(CaviExperiment(CaviConfig(**params).validate()), 25)
    same_numbers(parse_final(nb), page)
    assert {"elbo", "elbo_gradient", "m0"} <= page.keys()
    images = [o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) == 2  # the ELBO curves, the data with the means


def test_vae_notebook_ends_with_the_pages_numbers(tmp_path):
    from engine.vae.model import VAEConfig, VAEExperiment

    params = defaults(VAEConfig, hidden=[64], beta=0.5, eval_every=10, eval_size=200, seed=3,
                      device="cpu")
    params.pop("sigma", None)
    nb = execute(build_notebook("vae", params, steps=30), tmp_path)
    config = VAEConfig(**{k: v for k, v in params.items() if k != "seed"}, threads=1).validate()
    page = run_page(VAEExperiment(config, seed=3), 30)
    same_numbers(parse_final(nb), page)
    assert {"loss", "recon", "kl", "test_loss"} <= page.keys()


def test_cvae_notebook_ends_with_the_pages_numbers(tmp_path):
    from engine.cvae import CVAEConfig, CVAEExperiment

    params = defaults(CVAEConfig, task="q2", hidden=[32], latent=4, patience=1, seed=1, device="cpu")
    nb = execute(build_notebook("cvae", params, steps=40), tmp_path)
    config = CVAEConfig(**{k: v for k, v in params.items() if k != "seed"}, threads=1).validate()
    page = run_page(CVAEExperiment(config, seed=1), 40)
    same_numbers(parse_final(nb), page)


def test_bbb_regression_notebook_ends_with_the_pages_numbers(tmp_path):
    from engine.bbb.regression import RegressionConfig, RegressionExperiment

    params = {"regression": defaults(RegressionConfig, seed=2, n_points=60)}
    nb = execute(build_notebook("bbb", params, "regression", steps=50), tmp_path)
    config = RegressionConfig(**{k: v for k, v in params["regression"].items() if k != "seed"},
                              threads=1).validate()
    page = run_page(RegressionExperiment(config, seed=2), 50)
    same_numbers(parse_final(nb), page)


def test_info_gaussian_kl_notebook_ends_with_the_pages_estimate(tmp_path):
    from engine.info.measures import GaussianKLConfig, GaussianKLMonteCarlo, gaussian_kl

    params = {"mu_p": 0.0, "sigma_p": 1.0, "mu_q": 1.0, "sigma_q": 0.5, "direction": "pq",
              "max_samples": 100_000, "seed": 4}
    nb = execute(build_notebook("info", {"gauss": params}, "gauss", steps=None), tmp_path)
    # the page samples from p for KL(p‖q): the roles swap
    config = GaussianKLConfig(mu_q=0.0, sigma_q=1.0, mu_p=1.0, sigma_p=0.5, max_samples=100_000)
    page = run_page(GaussianKLMonteCarlo(config.validate(), seed=4), 10**9)
    final = parse_final(nb)
    same_numbers(final, page)
    assert final["samples"] == 100_000
    assert final["estimate"] == pytest.approx(gaussian_kl(0.0, 1.0, 1.0, 0.5), abs=5 * final["stderr"])


def test_info_coin_game_notebook_has_the_games_numbers(tmp_path):
    params = {"p": [0.5, 0.125, 0.125, 0.25], "q": [0.25] * 4,
              "labels": ["blue", "red", "green", "yellow"], "game": "Game 3"}
    final = parse_final(execute(build_notebook("info", {"kl": params}, "kl"), tmp_path))
    # the lecture's coin game 3: H(p) = 1.75, the uniform tree asks 2 = H(p) + KL(p‖q)
    assert final["H_p"] == 1.75 and final["H_p_q"] == 2.0 and final["KL_p_q"] == 0.25
    assert final["questions"] == 2.0


def test_vi_bbvi_notebook_ends_with_the_pages_numbers(tmp_path):
    from engine.vi.bbvi import BBVIConfig, BBVIExperiment

    params = defaults(BBVIConfig, target="banana", family="fullcov", samples=16, seed=5)
    nb = execute(build_notebook("vi", {"bbvi": params}, "bbvi", steps=30), tmp_path)
    config = BBVIConfig(**{k: v for k, v in params.items() if k != "seed"}).validate()
    page = run_page(BBVIExperiment(config, seed=5), 30)
    same_numbers(parse_final(nb), page)


def test_musicvae_notebook_ends_with_the_pages_numbers(tmp_path, monkeypatch):
    pytest.importorskip("music21")
    from engine.musicvae import data as music
    from engine.musicvae import synth
    from engine.musicvae.model import MusicVAEConfig, MusicVAEExperiment

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # the kernel inherits it
    rng = np.random.default_rng(0)
    folder = tmp_path / "tunes"
    folder.mkdir()
    for i in range(6):
        notes = [(int(rng.integers(60, 76)), 4 * j, 4) for j in range(32)]
        synth.write_midi(folder / f"t{i}.mid", music.notes_to_tokens(notes, steps=128))
    params = defaults(MusicVAEConfig, dataset=f"folder:{folder}", hidden=16, latent=8, transpose=1,
                      eval_every=5, seed=2, device="cpu")
    nb = execute(build_notebook("musicvae", params, steps=12), tmp_path)
    config = MusicVAEConfig(**{k: v for k, v in params.items() if k != "seed"}, threads=1).validate()
    page = run_page(MusicVAEExperiment(config, seed=2), 12)
    same_numbers(parse_final(nb), page)


# -- the file ---------------------------------------------------------------------------------------
def test_written_notebook_is_valid_v4_with_theory_params_and_no_outputs(tmp_path):
    from engine.cavi.model import CaviConfig

    path = write_notebook(tmp_path / "cavi.ipynb", "cavi", defaults(CaviConfig, k=4), steps=60,
                          title="Figures 1 and 3", caption="Line one.\nLine two.")
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.nbformat == 4 and nb.metadata.kernelspec.name == "python3"
    text = [c.source for c in nb.cells]
    assert text[0].startswith("# Figures 1 and 3") and "Line two." in text[0]
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "$$" in markdown and "\\tag{" in markdown and "<p>" not in markdown
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "'k': 4" in code and "STEPS = 60" in code and "from engine.cavi.model import" in code
    assert "import vigui" not in code and "from vigui" not in code  # the engine's API only
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")


def test_every_tour_stop_exports(tmp_path):
    """Each stop of the lecture tour becomes a valid notebook (not executed here)."""
    from vigui.teaching.scenes import lecture_tour

    for i, stop in enumerate(lecture_tour().stops):
        nb = build_notebook(stop.page, stop.params, stop.section,
                            steps=(stop.run or {}).get("steps"), title=stop.title,
                            caption=stop.caption, checkpoint=stop.checkpoint_path)
        nbformat.validate(nb)
        assert nb.cells[0].source.startswith(f"# {stop.title}"), i


def test_theory_html_becomes_markdown_with_latex():
    cells = html_to_markdown(
        "<h3>Title</h3><p>Text with $x^2$ and <b>bold</b> words,\nwrapped.</p>"
        "$$a = b \\allowbreak + c \\tag{1}$$<ul><li>one</li><li>two <i>it</i></li></ul>"
        "<p class=\"slip\">Lecture slip: (1) lost a sign.</p><h4>Next</h4><p>x</p>")
    assert cells == ["## Title\n\nText with $x^2$ and **bold** words, wrapped.\n\n$$a = b + c \\tag{1}$$"
                     "\n\n- one\n- two *it*\n\n> Lecture slip: (1) lost a sign.", "### Next\n\nx"]


def run_in_process(nb) -> dict:
    """Execute a notebook's code cells here (matplotlib without a screen): quicker than
    a kernel, for checking that every recipe's code runs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    namespace: dict = {}
    for cell in nb.cells:
        if cell.cell_type == "code":
            exec(compile(cell.source, "<cell>", "exec"), namespace)
        plt.close("all")
    return namespace


SECTION_PARAMS = {
    ("info", "surprise"): {"p_heads": 0.9, "forks": 3, "destination": 6},
    ("info", "entropy"): {"p": [0.1] * 5 + [0.5], "labels": list("123456")},
    ("info", "joint"): {"weights": [[4, 1, 0], [1, 3, 1], [0, 1, 4]], "noise": 0.2},
    ("vi", "gap"): {"n": 8, "true_z": 1.2, "sigma_x": 1.5, "seed": 0, "m": -1.5, "log_s": 0.5},
    ("vi", "latent"): {"kind": "ring", "n": 2000, "seed": 0},
    ("vi", "estimators"): {"model": "logistic", "n": 20, "samples": 10, "batch": 20, "max_steps": 30},
    ("bbb", "classify"): {"dataset": "digits", "hidden": [32], "batch_size": 64, "seed": 0},
}


@pytest.mark.parametrize("key", list(SECTION_PARAMS), ids=lambda k: "-".join(k))
def test_every_section_recipe_runs_and_reports_its_numbers(key):
    from engine.info import measures

    page, section = key
    ns = run_in_process(build_notebook(page, {section: SECTION_PARAMS[key]}, section, steps=12))
    final = ns["FINAL"]
    assert final and all(isinstance(v, float) for v in final.values())
    if key == ("info", "surprise"):
        assert final["surprise_tails"] == pytest.approx(-math.log2(0.1))
        assert final["questions"] == 3.0
    if key == ("info", "joint"):
        pxy = np.array(SECTION_PARAMS[key]["weights"], float) / 15
        assert final["I_XY"] == pytest.approx(measures.mutual_information(pxy))
        assert final["I_XY"] == pytest.approx(final["H_X"] + final["H_Y"] - final["H_XY"])
    if key == ("vi", "gap"):  # the gap closes as q is optimised: ELBO + KL = log p(x)
        exp = ns["exp"]
        assert final["elbo"] + final["kl"] == pytest.approx(exp.log_evidence, abs=1e-9)
    if ns.get("exp") is not None:
        assert ns["exp"].steps == 12 or ns["exp"].done
