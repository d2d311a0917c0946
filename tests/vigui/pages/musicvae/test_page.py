"""The Music VAE page offscreen: a folder of melodies parsed once with progress, training
in the child process, the interpolation strip, the editor, Save as WAV / MIDI without
a sound device, bad files named, closing mid-parse."""
import wave

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtTest import QTest

from engine.musicvae import data as music
from engine.musicvae import synth

pytest.importorskip("music21")

from vigui import audio  # noqa: E402
from vigui.pages.musicvae import MusicVAEPage  # noqa: E402
from vigui.run.worker import PAUSED  # noqa: E402

START_MS = 60_000  # the child imports torch first (slow on a busy machine)


def write_tunes(folder, n=6, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(exist_ok=True)
    for i in range(n):
        notes, t, p = [], 0, 67
        while t < 8 * 16:
            length = int(rng.choice([2, 4, 4, 8]))
            p = int(np.clip(p + rng.integers(-3, 4), 60, 79))
            notes.append((p, t, min(length, 8 * 16 - t)))
            t += length
        synth.write_midi(folder / f"tune{i}.mid", music.notes_to_tokens(notes, steps=8 * 16))
    return folder


@pytest.fixture
def no_sound(monkeypatch):
    audio.output_status.cache_clear()
    monkeypatch.setattr(audio, "output_status", lambda: (False, "no sound output: test"))
    yield


@pytest.fixture
def page(qtbot, tmp_path, monkeypatch, no_sound):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # the child inherits it
    folder = write_tunes(tmp_path / "tunes")
    page = MusicVAEPage()
    qtbot.addWidget(page)
    page.restore_settings({"dataset": f"folder:{folder}", "latent": 8, "hidden": 32,
                           "batch_size": 32, "transpose": 1, "kl_warmup": 0, "device": "cpu",
                           "seed": 0})
    page.resize(1280, 800)
    page.show()
    yield page
    page.close_page()


def test_folder_is_parsed_once_then_trains_and_interpolates(page, qtbot, tmp_path):
    page.activate()
    assert page.parsing and page.parse_box.isVisible()  # first use: read with progress
    qtbot.waitUntil(lambda: not page.parsing, timeout=START_MS)
    qtbot.waitUntil(lambda: page.runner is not None, timeout=5000)
    page.play()
    qtbot.waitUntil(lambda: page._steps >= 5, timeout=START_MS)
    page.pause()
    qtbot.waitUntil(lambda: page.runner.state == PAUSED, timeout=5000)
    qtbot.waitUntil(lambda: page.path_shown and page._latent is not None, timeout=20_000)
    v = page.views
    qtbot.waitUntil(lambda: "test, nats per phrase" in v.summary.text(), timeout=20_000)
    assert v.summary.text().count("±") == 4  # −ELBO, recon, KL, accuracy with their SEs
    assert "standard error" in v.summary.toolTip()
    n = v.path_steps.value()
    assert sum(r.isVisible() for r in v.path_strip.rolls) == n
    path = page._path
    assert path["tokens"].shape == (n, music.STEPS) and path["a_name"].startswith("tune")
    assert path["a_name"] != path["b_name"]  # two test phrases (one piece here: 6 tunes)
    # Recon strip: test phrases under their reconstructions.
    assert v.recon_strip.rolls[0].reference is not None
    # No sound device: said once, Play disabled, saving works.
    assert not v.play_button.isEnabled() and "no sound output" in v.sound_label.text()
    wav = page.save_sound(str(tmp_path / "path.wav"), kind="wav")
    with wave.open(str(wav)) as w:
        assert w.getnframes() == round(n * music.STEPS * synth.step_seconds() * w.getframerate())
    mid = page.save_sound(str(tmp_path / "path.mid"), kind="mid")
    assert mid.read_bytes()[:4] == b"MThd"
    # Clicking a roll makes it the sound to play / save.
    QTest.mouseClick(v.recon_strip.rolls[1], Qt.LeftButton)
    assert page.sound_source()[1].startswith("reconstruction of")
    one = page.save_sound(str(tmp_path / "one.wav"), kind="wav")
    with wave.open(str(one)) as w:
        assert w.getnframes() == round(music.STEPS * synth.step_seconds() * w.getframerate())
    # Save the model, open it again: the run resumes where it was and trains on.
    ckpt = tmp_path / "m.pt"
    page.save_model(str(ckpt))
    qtbot.waitUntil(ckpt.is_file, timeout=20_000)
    from engine.core import checkpoint

    # The step the model was saved at (a frame shown just before may lag the pause by a step).
    steps = checkpoint.peek(ckpt).step
    page.open_model(str(ckpt))  # peeked on a worker thread
    qtbot.waitUntil(lambda: "Opened" in page.message.text(), timeout=10_000)
    qtbot.waitUntil(lambda: page.runner is not None, timeout=5000)
    page.runner.request_frame()  # the opened run, before any new step
    qtbot.waitUntil(lambda: page._steps == steps, timeout=START_MS)
    page.play()
    qtbot.waitUntil(lambda: page._steps > steps, timeout=START_MS)
    page.pause()


def test_play_pressed_while_the_melodies_load_starts_training(page, qtbot):
    page.activate()
    assert page.parsing and page.runner is None
    assert "press Play" in page.message.text()
    qtbot.mouseClick(page.controls.play, Qt.LeftButton)  # while music21 reads the files
    assert page.parsing and page.run.play_pending
    text = page.message.text()
    assert "training starts as soon as they are ready" in text
    assert "#8b0000" not in page.message.styleSheet()  # a note, not an error
    assert "waiting for the melodies" in page.controls.state_label.text()
    qtbot.waitUntil(lambda: not page.parsing, timeout=START_MS)
    # No second press: the run is built and trains.
    qtbot.waitUntil(lambda: page._steps >= 3, timeout=START_MS)
    assert page.controls.state_label.text() == "running"
    # The samples strip follows the temperature control (greedy: at 0).
    v = page.views
    assert v.temperature.value() == 1.0
    page.pause()
    qtbot.waitUntil(lambda: page.runner.state == PAUSED, timeout=5000)
    qtbot.waitUntil(lambda: "samples" in page._strips, timeout=20_000)
    v.temperature.setValue(0.0)
    assert v.temperature.text() == "greedy (argmax)"
    qtbot.waitUntil(lambda: page._last_frame_step[1] == 0.0, timeout=20_000)
    greedy = page._strips["samples"][0]
    got = []
    page.runner.call(lambda exp: exp.decode(exp._prior_z.cpu().numpy()), on_done=got.append)
    qtbot.waitUntil(lambda: bool(got), timeout=20_000)
    assert np.array_equal(greedy, got[0])


def test_cancelling_the_parse_is_a_note_and_play_reads_again(qtbot, tmp_path, monkeypatch,
                                                             no_sound, capfd):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    folder = write_tunes(tmp_path / "tunes", n=40)
    page = MusicVAEPage()
    qtbot.addWidget(page)
    page.restore_settings({"dataset": f"folder:{folder}", "device": "cpu"})
    page.show()
    try:
        page.activate()
        qtbot.mouseClick(page.controls.play, Qt.LeftButton)
        qtbot.mouseClick(page.parse_cancel, Qt.LeftButton)
        qtbot.waitUntil(lambda: not page.parsing, timeout=START_MS)
        assert "cancelled" in page.message.text() and page.runner is None
        assert not page.run.play_pending and page.controls.state_label.text() == "ready"
        assert "Traceback" not in capfd.readouterr().err
    finally:
        page.close_page()


def test_drawn_melody_becomes_an_endpoint(page, qtbot):
    page.activate()
    qtbot.waitUntil(lambda: page.runner is not None, timeout=30_000)
    qtbot.waitUntil(lambda: page.path_shown, timeout=START_MS)
    v = page.views
    v.tabs.setCurrentIndex(1)
    ed = v.editor
    qtbot.waitUntil(lambda: ed.isVisible(), timeout=2000)
    area = ed._area()
    for step, pitch in ((0, 67), (4, 69), (8, 71), (16, 72)):
        a = ed._cell(step, pitch)
        QTest.mouseClick(ed, Qt.LeftButton, pos=QPointF(a.x() + 2, a.y() + 2).toPoint())
    notes = ed.notes()
    assert [n[1] for n in notes] == [0, 4, 8, 16] and all(n[2] == 4 for n in notes)
    assert [n[0] for n in notes] == [67, 69, 71, 72]
    # Clicking a note again erases it.
    a = ed._cell(16, 72)
    QTest.mouseClick(ed, Qt.LeftButton, pos=QPointF(a.x() + 2, a.y() + 2).toPoint())
    assert len(ed.notes()) == 3 and area.width() > 0
    before = page.live.token
    QTest.mouseClick(v.use_as_a, Qt.LeftButton)
    qtbot.waitUntil(lambda: page.live.token > before and not page.live.busy,
                    timeout=20_000)
    assert np.array_equal(page._path["a"], ed.tokens)
    assert "Your melody as A" in v.drawn_recon.text()


def test_a_bad_file_is_named(qtbot, tmp_path, monkeypatch, no_sound):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    folder = write_tunes(tmp_path / "tunes", n=3)
    (folder / "broken.mid").write_bytes(b"MThd not really")
    page = MusicVAEPage()
    qtbot.addWidget(page)
    page.restore_settings({"dataset": f"folder:{folder}", "device": "cpu"})
    page.show()
    page.activate()
    try:
        qtbot.waitUntil(lambda: not page.parsing, timeout=START_MS)
        assert page.message.isVisible() and "broken.mid" in page.message.text()
        assert page.runner is None
    finally:
        page.close_page()


def test_closing_while_parsing_does_not_hang(qtbot, tmp_path, monkeypatch, no_sound):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    folder = write_tunes(tmp_path / "tunes", n=12)
    page = MusicVAEPage()
    qtbot.addWidget(page)
    page.restore_settings({"dataset": f"folder:{folder}"})
    page.activate()
    assert page.parsing
    page.close_page()  # cancels the parse; the thread ends (the fixture checks it)
    assert not page.parsing
