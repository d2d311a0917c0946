"""The synthesiser: audio length and pitch, WAV and MIDI files."""
import wave

import numpy as np
import pytest

from engine.musicvae import data as music
from engine.musicvae import synth


def test_frequency_equal_temperament():
    assert synth.frequency(69) == pytest.approx(440.0)
    assert synth.frequency(81) == pytest.approx(880.0)
    assert synth.frequency(60) == pytest.approx(261.6256, rel=1e-6)


@pytest.mark.parametrize("pitch", [57, 69, 76])
def test_wav_has_the_right_length_rate_and_pitch(tmp_path, pitch):
    tokens = music.notes_to_tokens([(pitch, 0, music.STEPS)])  # one long note
    tempo, rate = 120.0, 16_000
    audio = synth.render(tokens, tempo=tempo, sample_rate=rate)
    path = synth.write_wav(tmp_path / "a.wav", audio, rate)
    with wave.open(str(path)) as w:
        assert w.getframerate() == rate and w.getnchannels() == 1 and w.getsampwidth() == 2
        n = w.getnframes()
        pcm = np.frombuffer(w.readframes(n), dtype="<i2").astype(np.float64)
    # 32 sixteenths at 120 quarters per minute: 8 quarters = 4 seconds.
    assert n == 4 * rate
    spectrum = np.abs(np.fft.rfft(pcm * np.hanning(n)))
    peak = np.fft.rfftfreq(n, 1 / rate)[np.argmax(spectrum)]
    assert peak == pytest.approx(synth.frequency(pitch), abs=0.5)


def test_notes_sound_only_where_they_are(tmp_path):
    tokens = music.notes_to_tokens([(60, 0, 4), (67, 16, 4)])
    rate = 8000
    audio = synth.render(tokens, tempo=60.0, sample_rate=rate)  # a step is 0.25 s
    step = rate // 4
    loud = lambda a, b: np.abs(audio[a:b]).max()  # noqa: E731
    assert loud(0, 4 * step) > 0.05 and loud(16 * step, 20 * step) > 0.05
    assert loud(4 * step, 16 * step) == 0 and loud(20 * step, len(audio)) == 0
    # The release fades each note out before its end: no click.
    assert abs(audio[4 * step - 1]) < 0.01


def test_several_phrases_play_one_after_another():
    rows = np.stack([music.notes_to_tokens([(60, 0, 8)])] * 3)
    a = synth.render(rows, sample_rate=8000)
    assert len(a) == round(3 * music.STEPS * synth.step_seconds() * 8000)


def test_bad_arguments():
    with pytest.raises(ValueError, match="tempo"):
        synth.render(np.zeros(32, int), tempo=0)
    with pytest.raises(ValueError, match="sample_rate"):
        synth.render(np.zeros(32, int), sample_rate=10)
    with pytest.raises(ValueError, match="tokens"):
        synth.render(np.zeros((2, 2, 2), int))
    with pytest.raises(ValueError, match="NaN"):
        synth.write_wav("x.wav", np.array([np.nan]))


def test_midi_file_read_back_by_music21(tmp_path):
    music21 = pytest.importorskip("music21")
    notes = [(60, 0, 4), (64, 4, 2), (67, 8, 8), (72, 20, 12)]
    path = synth.write_midi(tmp_path / "m.mid", music.notes_to_tokens(notes), tempo=100)
    data = path.read_bytes()
    assert data[:4] == b"MThd" and data[14:18] == b"MTrk"
    score = music21.converter.parse(str(path))
    got = [(n.pitch.midi, int(n.offset * 4), int(n.quarterLength * 4))
           for n in score.flatten().notes]
    assert got == notes
    marks = score.flatten().getElementsByClass("MetronomeMark")
    assert marks and marks[0].number == pytest.approx(100)


def test_varlen():
    assert synth._varlen(0) == b"\x00" and synth._varlen(0x7F) == b"\x7f"
    assert synth._varlen(0x80) == b"\x81\x00" and synth._varlen(0x0FFFFFFF) == b"\xff\xff\xff\x7f"
