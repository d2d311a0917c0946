"""Figure 5's Monte Carlo figures carry their errors (issue 18): the ring's radius sd and
the affine map's sample covariance, each SE against the scatter over repeated draws."""
import math

import numpy as np
import pytest

from engine.vi import latent

REPEATS = 300
N = 2000


def repeats(kind: str, fn):
    out = [fn(latent.push(latent.sample_z(N, seed=seed), kind)) for seed in range(REPEATS)]
    values = np.array([o[0] for o in out])
    ses = np.array([o[1] for o in out])
    return values, ses


def test_ring_radius_sd_se_matches_repeats():
    sds, ses = repeats("ring", lambda x: latent.sd_with_se(latent.ring_radius(x)))
    assert np.sqrt(np.mean(ses ** 2)) == pytest.approx(np.std(sds, ddof=1), rel=0.2)
    assert np.mean(sds) == pytest.approx(0.1 * math.sqrt(2 - math.pi / 2), rel=0.01)  # sd of ‖z‖/10


def test_affine_covariance_se_matches_repeats():
    covs, ses = repeats("affine", latent.covariance_with_se)
    a, _ = latent.affine_matrix()
    truth = a @ a.T
    for i, j in ((0, 0), (0, 1), (1, 1)):
        sd = np.std(covs[:, i, j], ddof=1)
        assert np.sqrt(np.mean(ses[:, i, j] ** 2)) == pytest.approx(sd, rel=0.2), (i, j)
        # for normal x the closed form: var s_ij = (σ_ii σ_jj + σ_ij²) / (n − 1)
        exact = math.sqrt((truth[i, i] * truth[j, j] + truth[i, j] ** 2) / (N - 1))
        assert np.mean(ses[:, i, j]) == pytest.approx(exact, rel=0.05), (i, j)
    assert np.all(np.abs(covs.mean(0) - truth) < 4 * np.sqrt(np.mean(ses ** 2, 0) / REPEATS))
