"""Sound output: where it cannot play (no sounddevice, no PortAudio, no device), it says
why in one line and play() refuses with that reason; nothing crashes."""
import sys

import numpy as np
import pytest

from vigui import audio


@pytest.fixture(autouse=True)
def fresh_status():
    audio.output_status.cache_clear()
    yield
    audio.output_status.cache_clear()


def test_without_sounddevice_it_says_so(monkeypatch):
    monkeypatch.setitem(sys.modules, "sounddevice", None)  # import fails
    ok, why = audio.output_status()
    assert not ok and "sounddevice" in why and "vigui[audio]" in why
    with pytest.raises(RuntimeError, match="sounddevice"):
        audio.play(np.zeros(100, np.float32), 8000)
    audio.stop()  # nothing to stop: no error


def test_status_is_a_reason_or_a_device():
    ok, text = audio.output_status()
    assert isinstance(ok, bool) and text
    if not ok:
        with pytest.raises(RuntimeError):
            audio.play(np.zeros(100, np.float32), 8000)
