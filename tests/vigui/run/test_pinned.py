"""Pinned runs without Qt: labels from the declarations, bounded memory, scene data, CSV."""
from __future__ import annotations

import csv
import io
import json
import math

import numpy as np
import pytest

from engine.cavi.model import CaviConfig, CaviExperiment
from engine.core.params import specs
from engine.core.runtime import MetricStore
from engine.vae.model import VAEConfig
from engine.vi.bbvi import BBVIConfig
from vigui.run.pinned import (
    MAX_PINNED,
    PinnedError,
    PinnedRun,
    PinnedRuns,
    differences,
    label_for,
    metrics_csv,
    parse_pinned,
)


def cavi_run(steps: int, **changes) -> tuple[dict, CaviExperiment]:
    config = CaviConfig(n=300, data_seed=3, init_seed=1, **changes).validate()
    exp = CaviExperiment(config)
    for _ in range(steps):
        exp.step()
    return config.to_dict(), exp


# -- labels --------------------------------------------------------------------------------
def test_labels_name_what_differs_with_the_declared_symbols_and_choice_labels():
    vae = specs(VAEConfig)
    live = VAEConfig().to_dict()
    assert differences(live, {**live, "beta": 0.0}, vae) == ["β = 0"]
    assert differences(live, {**live, "loss_mode": "recon"}, vae) == ["Reconstruction only"]
    assert differences(live, {**live, "loss_mode": "kl"}, vae) == ["KL only"]
    assert differences(live, {**live, "hidden": [256, 128]}, vae) == ["Hidden sizes = 256,128"]
    assert differences(live, dict(live), vae) == []
    assert differences({"beta": 1.0}, {"beta": 0.0, "eval_every": 250}, vae) == ["β = 0"]
    cavi = specs(CaviConfig)
    live = CaviConfig().to_dict()
    assert differences(live, {**live, "k": 5}, cavi) == ["K = 5"]
    bbvi = specs(BBVIConfig)
    live = BBVIConfig(divergence="forward").to_dict()
    assert differences(live, {**live, "divergence": "reverse"}, bbvi) == ["reverse KL(q‖p)"]
    # declaration order, several at once, capped
    live = VAEConfig().to_dict()
    many = {**live, "beta": 0.5, "latent": 8, "lr": 0.01, "batch_size": 64}
    assert label_for(live, many, vae) == "Latent dim = 8, β = 0.5, Learning rate = 0.01, +1 more"


def test_labels_compare_sections_inside_and_are_made_unique():
    live = {"bbvi": BBVIConfig().to_dict()}
    runs = PinnedRuns(specs(BBVIConfig))
    store = MetricStore()
    store.append(1, elbo=1.0)
    for samples in (8, 8, 16):
        runs.pin(PinnedRun.from_live({"bbvi": {**live["bbvi"], "samples": samples}}, store))
    assert runs.labels(live) == ["Samples / step = 8", "Samples / step = 8 (2)", "Samples / step = 16"]
    runs.pin(PinnedRun.from_live(live, store))
    assert runs.labels(live)[-1] == "same parameters"


# -- pinning real runs ------------------------------------------------------------------
def test_a_pinned_run_is_a_copy_the_live_run_goes_on_without_it():
    params, exp = cavi_run(5)
    pinned = PinnedRun.from_live(params, exp.metrics)
    x0, y0 = pinned.metrics.get("elbo")
    for _ in range(5):
        exp.step()
    assert len(exp.metrics.get("elbo")[0]) == 10
    np.testing.assert_array_equal(pinned.metrics.get("elbo")[1], y0)
    assert pinned.final["elbo"] == y0[-1] and pinned.steps == 5
    np.testing.assert_array_equal(x0, np.arange(1, 6))


def test_two_cavi_runs_with_different_k_differ_and_are_labelled_by_k():
    live_params, live = cavi_run(20, k=3)
    other_params, other = cavi_run(20, k=5)
    runs = PinnedRuns(specs(CaviConfig))
    runs.pin(PinnedRun.from_live(other_params, other.metrics))
    assert runs.labels(live_params) == ["K = 5"]
    assert not np.allclose(runs[0].metrics.get("elbo")[1], live.metrics.get("elbo")[1])


def test_the_list_keeps_at_most_the_limit_dropping_the_oldest():
    runs = PinnedRuns(limit=3)
    stores = []
    for i in range(5):
        s = MetricStore()
        s.append(1, loss=float(i))
        stores.append(runs.pin(PinnedRun.from_live({"i": i}, s)))
    assert [r.final["loss"] for r in runs] == [2.0, 3.0, 4.0]
    runs.drop(stores[3])
    assert [r.final["loss"] for r in runs] == [2.0, 4.0]
    assert PinnedRuns().limit == MAX_PINNED


def test_a_pinned_run_costs_what_the_metric_store_costs_however_long_the_run():
    store = MetricStore()
    rng = np.random.default_rng(0)
    bound_points = None
    for n in (20_000, 200_000):
        while store.rows < n:
            store.append(store.rows + 1, loss=float(rng.normal()), kl=float(rng.random()))
        pinned = PinnedRun.from_live({}, store)
        held = pinned.points()
        # MetricStore's Series bound: 2 * max_buckets + 2 * recent + 2 points a curve
        assert held <= 2 * (2 * 4096 + 2 * 4096 + 2)
        assert held == sum(len(s) for s in store.series.values())
        bound_points = held if bound_points is None else bound_points
    assert pinned.points() <= bound_points * 1.01 + 10  # ten times the steps, no more points
    # the spikes survive the folding: the minimum of the whole run is still there
    assert pinned.metrics.get("loss")[1].min() == store.get("loss")[1].min()


# -- scenes ---------------------------------------------------------------------------------
def test_scene_data_round_trips_through_json_and_stays_small():
    params, exp = cavi_run(40, mode="gradient", alpha=2e-4)
    runs = PinnedRuns(specs(CaviConfig))
    run = runs.pin(PinnedRun.from_live(params, exp.metrics))
    run.visible = False
    text = json.dumps(runs.to_data())
    back = PinnedRuns(specs(CaviConfig))
    back.load_data(json.loads(text))
    assert len(back) == 1 and back[0].visible is False and back[0].steps == 40
    assert back[0].params == params
    for name in ("elbo", "elbo_gradient", "m0"):
        np.testing.assert_allclose(back[0].metrics.get(name)[1], exp.metrics.get(name)[1], rtol=1e-6)
        assert back[0].final[name] == pytest.approx(exp.metrics.latest(name), rel=1e-6)
    # a long run folds to the scene's budget, keeping its extremes
    long = MetricStore()
    for i in range(50_000):
        long.append(i, loss=math.sin(i / 100.0) + (5.0 if i == 31_337 else 0.0))
    data = PinnedRun.from_live({}, long).to_data(points_per_series=400)
    assert len(data["metrics"]["loss"]["value"]) <= 402
    assert max(data["metrics"]["loss"]["value"]) == pytest.approx(math.sin(313.37) + 5, rel=1e-6)


@pytest.mark.parametrize("bad, words", [
    ({"pinned": 3}, "must be a list"),
    ([{"params": [], "metrics": {}}], "must be objects"),
    ([{"params": {}, "metrics": {"loss": {"step": [1, 2], "value": [1]}}}], "same length"),
    ([{"params": {}, "metrics": {}, "colour": 3}], "unknown key"),
    ([{"params": {}, "metrics": {}, "steps": -1}], "whole number"),
    ([{"params": {}, "metrics": {}}] * (MAX_PINNED + 1), "at most"),
])
def test_bad_pinned_data_is_refused_with_one_sentence(bad, words):
    with pytest.raises(PinnedError, match=words):
        parse_pinned(bad["pinned"] if isinstance(bad, dict) else bad)


# -- CSV ----------------------------------------------------------------------------------------
def test_csv_has_the_live_and_pinned_histories_row_for_row():
    live_params, live = cavi_run(12, k=3)
    other_params, other = cavi_run(7, k=2)
    text = metrics_csv([("live", live.metrics), ("K = 2", other.metrics)])
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows[0].keys() >= {"run", "step", "elbo", "m0", "s2"}
    live_rows = [r for r in rows if r["run"] == "live"]
    k2 = [r for r in rows if r["run"] == "K = 2"]
    assert len(live_rows) == 12 and len(k2) == 7
    np.testing.assert_array_equal([float(r["elbo"]) for r in live_rows], live.metrics.get("elbo")[1])
    assert [int(r["step"]) for r in k2] == list(range(1, 8))
    assert all(r["m2"] == "" for r in k2)  # K = 2 has no third mean
