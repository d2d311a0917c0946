"""Every chapter draws categories with vigui.widgets.plots.PALETTE: its colours must stay
apart for colour-blind viewers (protan, deutan, tritan simulated after Machado, Oliveira
& Fernandes 2009, severity 1) and from the white background."""
import itertools

import numpy as np
import pytest

from vigui.widgets.plots import PALETTE

CVD = {
    "normal": np.eye(3),
    "protan": np.array([[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216],
                        [-0.003882, -0.048116, 1.051998]]),
    "deutan": np.array([[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413],
                        [-0.011820, 0.042940, 0.968881]]),
    "tritan": np.array([[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602],
                        [0.004733, 0.691367, 0.303900]]),
}
MIN_DELTA_E = 15.0  # CIE76; Okabe-Ito's own closest pair (tritan) is 16


def to_lab(rgb, matrix):
    c = np.asarray(rgb, float) / 255
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    lin = np.clip(matrix @ lin, 0, 1)
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722],
                    [0.0193, 0.1192, 0.9505]]) @ lin / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def closest_pair(colours, matrix):
    labs = [to_lab(c, matrix) for c in colours]
    return min((float(np.linalg.norm(labs[i] - labs[j])), i, j)
               for i, j in itertools.combinations(range(len(labs)), 2))


@pytest.mark.parametrize("vision", list(CVD))
def test_palette_colours_stay_apart(vision):
    distance, i, j = closest_pair(PALETTE, CVD[vision])
    assert distance >= MIN_DELTA_E, (vision, PALETTE[i], PALETTE[j], distance)


@pytest.mark.parametrize("vision", list(CVD))
def test_palette_stands_out_from_white(vision):
    white = to_lab((255, 255, 255), CVD[vision])
    for rgb in PALETTE:
        assert np.linalg.norm(to_lab(rgb, CVD[vision]) - white) >= MIN_DELTA_E, (vision, rgb)


def test_the_check_catches_the_old_extra_colours():
    """The purple the palette had before is ~4 from blue for a protan viewer."""
    old = list(PALETTE[:8]) + [(148, 103, 189), (127, 127, 127)]
    assert closest_pair(old, CVD["protan"])[0] < MIN_DELTA_E


def test_simulation_matches_a_known_value():
    """Protan vision sees pure red as a dark olive (Machado et al.'s matrix applied in
    linear RGB): its lightness drops well below red's own."""
    assert to_lab((255, 0, 0), CVD["normal"])[0] == pytest.approx(53.2, abs=0.3)
    assert to_lab((255, 0, 0), CVD["protan"])[0] < 45
