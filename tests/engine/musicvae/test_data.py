"""Melody tokens, transposition, phrases, the corpus split and the MIDI/MusicXML reader."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.musicvae import data as music
from engine.musicvae import synth
from engine.musicvae.data import HOLD, REST, STEPS


@st.composite
def melodies(draw, steps=STEPS):
    """Non-overlapping (pitch, start, length) notes inside ``steps``."""
    notes, t = [], 0
    while t < steps:
        gap = draw(st.integers(0, 4))
        t += gap
        if t >= steps:
            break
        length = draw(st.integers(1, min(8, steps - t)))
        notes.append((draw(st.integers(music.LOW, music.HIGH)), t, length))
        t += length
    return notes


@given(melodies())
def test_notes_to_tokens_and_back_is_exact(notes):
    tokens = music.notes_to_tokens(notes)
    assert tokens.shape == (STEPS,)
    assert music.tokens_to_notes(tokens) == notes
    assert np.array_equal(music.notes_to_tokens(music.tokens_to_notes(tokens)), tokens)
    assert music.is_valid(tokens).all()


def test_token_meaning():
    tokens = music.notes_to_tokens([(60, 0, 4), (62, 6, 2)], steps=8)
    assert tokens.tolist() == [music.note_on(60), HOLD, HOLD, HOLD, REST, REST,
                               music.note_on(62), HOLD]
    assert music.pitch_of(music.note_on(60)) == 60 and music.token_name(tokens[0]) == "C4"
    # Two repeated notes stay two notes (a note-on, not a hold).
    assert music.tokens_to_notes([music.note_on(67), music.note_on(67), HOLD]) == \
        [(67, 0, 1), (67, 1, 2)]
    # A decoder may emit a hold after a rest: it is read as a rest, and flagged invalid.
    assert music.tokens_to_notes([REST, HOLD, music.note_on(60)]) == [(60, 2, 1)]
    assert not music.is_valid(np.array([REST, HOLD, music.note_on(60)])).any()


def test_bad_notes_are_refused():
    with pytest.raises(ValueError, match="overlaps"):
        music.notes_to_tokens([(60, 0, 4), (62, 2, 2)])
    with pytest.raises(ValueError, match="does not fit"):
        music.notes_to_tokens([(60, 30, 4)])
    with pytest.raises(ValueError, match="outside"):
        music.notes_to_tokens([(music.HIGH + 1, 0, 1)])


@given(melodies(), st.integers(-12, 12))
def test_transposition_keeps_intervals_and_rhythm(notes, k):
    tokens = music.notes_to_tokens(notes)
    down, up = music.transpose_range(tokens)
    if not down <= k <= up:
        with pytest.raises(ValueError, match="leaves the pitch range"):
            music.transpose(tokens, k)
        return
    moved = music.tokens_to_notes(music.transpose(tokens, k))
    assert [(s, n) for _, s, n in moved] == [(s, n) for _, s, n in notes]
    assert np.array_equal(np.diff([p for p, _, _ in moved]), np.diff([p for p, _, _ in notes]))
    assert all(p2 == p1 + k for (p1, _, _), (p2, _, _) in zip(notes, moved, strict=False))


def test_phrases_start_at_bars_and_restart_cut_notes():
    notes = [(60, 0, 20), (62, 20, 12), (64, 32, 16), (65, 48, 16)]
    tune = music.Tune("t", music.notes_to_tokens(notes, steps=64), np.array([0, 16, 32, 48]))
    phrases = music.phrases_of(tune, min_notes=1)
    assert len(phrases) == 3  # bars 0, 16 and 32; the window at 48 would run past the end
    # The window at bar 16 starts inside the first note: it restarts it with a note-on.
    assert music.tokens_to_notes(phrases[1]) == [(60, 0, 4), (62, 4, 12), (64, 16, 16)]
    assert music.is_valid(phrases).all()


def test_split_keeps_a_tune_harmonised_twice_on_one_side():
    rng = np.random.default_rng(0)

    def piece():
        return np.stack([music.notes_to_tokens(
            [(int(p), 4 * i, 4) for i, p in enumerate(rng.integers(60, 72, 8))])
            for _ in range(6)])

    pieces = [piece() for _ in range(30)]
    pieces.append(pieces[3].copy())                    # the same melody again
    pieces.append(music_transposed(pieces[7], 2))      # and one in another key
    for seed in range(20):
        test = music.split_by_tune(pieces, 0.2, seed=seed)
        assert (3 in test) == (30 in test) and (7 in test) == (31 in test)
        assert 0 < len(test) < len(pieces)


def music_transposed(phrases, k):
    return np.stack([music.transpose(p, k) for p in phrases])


def test_unknown_dataset_and_empty_folder(tmp_path):
    with pytest.raises(music.MusicDataError, match="folder:"):
        music.load_melodies("mozart")
    with pytest.raises(music.MusicDataError, match="no MIDI or MusicXML"):
        music.load_melodies(f"folder:{tmp_path}")
    with pytest.raises(ValueError, match="transpose"):
        music.load_melodies("bach", transpose=20)


def _write_tunes(folder, n, seed=0):
    """n random 8-bar melodies (quarters and eighths) as MIDI files; their tokens."""
    rng = np.random.default_rng(seed)
    written = []
    for i in range(n):
        notes, t, p = [], 0, 67
        while t < 8 * 16:
            length = int(rng.choice([2, 4, 4, 8]))
            p = int(np.clip(p + rng.integers(-3, 4), 60, 79))
            notes.append((p, t, min(length, 8 * 16 - t)))
            t += length
        tokens = music.notes_to_tokens(notes, steps=8 * 16)
        synth.write_midi(folder / f"tune{i:02d}.mid", tokens)
        written.append(tokens)
    return written


def test_folder_of_midi_files_round_trips_through_music21(tmp_path, monkeypatch):
    pytest.importorskip("music21")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    written = _write_tunes(tmp_path, 6)
    tune = music.parse_file(tmp_path / "tune00.mid")
    # Our MIDI writer, read by music21: the same notes on the grid.
    assert music.tokens_to_notes(tune.tokens) == music.tokens_to_notes(written[0])
    assert tune.bars[:3].tolist() == [0, 16, 32]
    calls = []
    mel = music.load_melodies(f"folder:{tmp_path}", transpose=2,
                              progress=lambda d, n, f: calls.append((d, n)))
    assert calls[0] == (0, 6) and calls[-1] == (6, 6)
    assert set(mel.train_tune.tolist()).isdisjoint(mel.test_tune.tolist())
    assert mel.train_x.shape[1] == STEPS and music.is_valid(mel.train_x.astype(int)).all()
    assert set(mel.train_shift.tolist()) == {-2, -1, 0, 1, 2}
    # The second load comes from the cache, without parsing.
    again = music.load_melodies(f"folder:{tmp_path}", transpose=2,
                                progress=lambda *a: pytest.fail("parsed again"))
    assert np.array_equal(again.train_x, mel.train_x)


def test_a_bad_file_is_named(tmp_path, monkeypatch):
    pytest.importorskip("music21")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    _write_tunes(tmp_path, 3)
    (tmp_path / "broken.mid").write_bytes(b"MThd this is not a midi file")
    with pytest.raises(music.MusicDataError, match="broken.mid"):
        music.load_melodies(f"folder:{tmp_path}")


@pytest.mark.slow
def test_bach_chorales_split_by_tune(tmp_path, monkeypatch):
    pytest.importorskip("music21")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    mel = music.load_melodies("bach", limit=40, transpose=1)
    assert len(mel.tunes) == 40 and all(n.endswith(".mxl") for n in mel.tunes)
    train, test = set(mel.train_tune.tolist()), set(mel.test_tune.tolist())
    assert test and train and train.isdisjoint(test)
    assert len(mel.test_x) > 10 and len(mel.train_x) > 5 * len(mel.test_x)
    x = mel.train_x.astype(np.int64)
    assert music.is_valid(x).all() and music.is_valid(mel.test_x.astype(np.int64)).all()
    # Soprano lines: mostly between C4 and A5, quarters and eighths (holds dominate).
    pitches = x[x >= 2] - 2 + music.LOW
    assert 60 <= np.median(pitches) <= 76
    assert 0.4 < (x == HOLD).mean() < 0.8
    keys = mel.test_y[mel.test_y >= 0]
    assert len(keys) == len(mel.test_y)  # music21 found a key for every chorale
