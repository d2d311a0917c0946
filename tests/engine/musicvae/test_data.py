"""Melody tokens, transposition, phrases, the corpus split and the MIDI/MusicXML reader."""
import json

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


def _random_melody(rng, n_notes=48):
    """A stepwise melody of quarters (pitches 55..79) as tokens."""
    p, notes = 67, []
    for i in range(n_notes):
        p = int(np.clip(p + rng.choice([-2, -1, 1, 2, 3, -3]), 55, 79))
        notes.append((p, 4 * i, 4))
    return notes


def _with_passing_notes(notes, every=8):
    """The same tune with other passing notes: every ``every``-th quarter (when the next
    note is a step or more away) split into two eighths, the second a semitone towards
    the next note."""
    out = []
    for i, (p, t, _) in enumerate(notes):
        nxt = notes[i + 1][0] if i + 1 < len(notes) else p
        if i % every == 2 and abs(nxt - p) >= 2:
            out += [(p, t, 2), (p + (1 if nxt > p else -1), t + 2, 2)]
        else:
            out.append((p, t, 4))
    return out


def test_split_keeps_a_tune_with_other_passing_notes_on_one_side():
    rng = np.random.default_rng(0)
    tunes = [_random_melody(rng) for _ in range(30)]
    tokens = [music.notes_to_tokens(t, steps=4 * 48) for t in tunes]
    tokens.append(music.notes_to_tokens(_with_passing_notes(tunes[3]), steps=4 * 48))
    tokens.append(music.transpose(tokens[7], 2))                  # another key
    tokens.append(music.notes_to_tokens([(p, t // 2, 2) for p, t, _ in tunes[11]],
                                        steps=4 * 48))           # in eighths
    tokens.append(music.notes_to_tokens(tunes[15][:16], steps=4 * 48))  # its opening only
    grams = [music.interval_ngrams(t) for t in tokens]
    assert music.melody_similarity(grams[3], grams[30]) >= music.SHARED
    assert music.melody_similarity(grams[7], grams[31]) == 1.0
    assert music.melody_similarity(grams[11], grams[32]) == 1.0
    assert music.melody_similarity(grams[15], grams[33]) == 1.0  # shares all it has
    # Unrelated random melodies share few 5-interval runs: they stay apart.
    assert max(music.melody_similarity(grams[i], grams[j])
               for i in range(30) for j in range(i)) < music.SHARED
    assert len(music.tune_groups(tokens)) == 30
    for seed in range(20):
        test = music.split_by_melody(tokens, 0.2, seed=seed)
        assert (3 in test) == (30 in test) and (7 in test) == (31 in test)
        assert (11 in test) == (32 in test) and (15 in test) == (33 in test)
        assert 0 < len(test) < len(tokens)


def test_melody_part_is_the_part_named_soprano():
    names = ["Horn 1", "Horn 2", "Soprano", "Alto", "Tenor", "Bass"]
    assert music.melody_part(names, [75, 72, 70, 64, 57, 48]) == 2
    assert music.melody_part(["Violin 1", "Soprano Oboe 1 Violin1", "Alto"], [80, 70, 65]) == 1
    assert music.melody_part(["soprano 1", "Soprano 2"], [70, 72]) == 0  # the first of two
    # None named soprano: the highest part (by median pitch), wherever it is.
    assert music.melody_part(["Piano LH", "Piano RH", "Drums"], [48, 72, float("nan")]) == 1
    assert music.melody_part(["", ""], [60, 60]) == 0
    with pytest.raises(ValueError):
        music.melody_part([], [])
    assert music.is_chorale(["Trumpet 1", "Soprano", "Alto", "Tenor", "Bass Continuo"])
    assert not music.is_chorale(["Piano", "Piano"])
    assert not music.is_chorale(["Soprano", "Alto", "Bass"])


def _write_score(path, parts):
    """A MusicXML file whose parts are (name, [MIDI pitches as quarters])."""
    m21 = pytest.importorskip("music21")
    score = m21.stream.Score()
    for name, pitches in parts:
        part = m21.stream.Part()
        part.partName = name
        for p in pitches:
            part.append(m21.note.Note(p, quarterLength=1.0))
        score.insert(0, part)
    score.write("musicxml", fp=str(path))
    return path


def test_parse_file_reads_the_soprano_not_the_first_part(tmp_path):
    horn = [79, 77, 76, 74] * 4
    soprano = [67, 69, 71, 72] * 4
    path = _write_score(tmp_path / "cantata.musicxml", [
        ("Horn 1", horn), ("Soprano", soprano), ("Alto", [60] * 16), ("Tenor", [55] * 16),
        ("Bass", [48] * 16)])
    tune = music.parse_file(path)
    assert tune.part == "Soprano" and tune.parts[0] == "Horn 1"
    assert [p for p, _, _ in music.tokens_to_notes(tune.tokens)] == soprano
    # No soprano named: the highest part.
    path = _write_score(tmp_path / "duo.musicxml", [("Lower", [48] * 8), ("Upper", soprano[:8])])
    assert [p for p, _, _ in music.tokens_to_notes(music.parse_file(path).tokens)] == soprano[:8]


def test_no_test_phrase_is_seen_in_training(tmp_path, monkeypatch):
    """A folder of tunes with one formula in all of them: the split keeps whole tunes
    apart and drops the training copies of any test phrase (up to transposition)."""
    pytest.importorskip("music21")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    rng = np.random.default_rng(1)
    cadence = [(72, 0, 4), (71, 4, 4), (72, 8, 8), (72, 16, 16)]
    for i in range(12):
        notes = _random_melody(rng, 24)
        k = int(rng.integers(-3, 4))
        notes += [(p + k, t + 96, n) for p, t, n in cadence]  # the same two bars, any key
        synth.write_midi(tmp_path / f"t{i:02d}.mid", music.notes_to_tokens(notes, steps=128))
    mel = music.load_melodies(f"folder:{tmp_path}", transpose=2, test_fraction=0.25)
    assert mel.stats["train_phrases_shared_with_test"] >= 1
    train = {music._shape(x) for x in mel.train_x.astype(np.int64)}
    assert not any(music._shape(x) in train for x in mel.test_x.astype(np.int64))
    assert set(mel.train_tune.tolist()).isdisjoint(mel.test_tune.tolist())


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


def test_a_cache_of_another_version_is_parsed_again(tmp_path, monkeypatch):
    pytest.importorskip("music21")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    _write_tunes(tmp_path, 4)
    files = music.corpus_files(f"folder:{tmp_path}")
    path = music.cache_path(files)
    assert f"-v{music.CACHE_VERSION}-" in path.name  # an older format has another name
    music.load_melodies(f"folder:{tmp_path}", transpose=0)
    tune = music._read_cache(path)[0]
    assert len(tune.parts) == 1 and tune.part == tune.parts[0]  # one part (its instrument)
    # A file of another version under this name (copied by hand, say) is not trusted.
    with np.load(path) as z:
        arrays = dict(z)
    meta = json.loads(str(arrays["meta"]))
    np.savez(path, **{**arrays, "meta": json.dumps({**meta, "version": 1})})
    calls = []
    music.load_melodies(f"folder:{tmp_path}", transpose=0, progress=lambda *a: calls.append(a))
    assert calls and calls[-1][:2] == (4, 4)


def test_a_second_process_waits_for_the_first_parse_and_can_cancel(tmp_path, monkeypatch):
    """Another process parsing the same files holds the cache's lock: this one waits (and
    says so), then reads that process's cache instead of parsing; a cancel ends the wait."""
    pytest.importorskip("music21")
    from filelock import FileLock

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    _write_tunes(tmp_path, 3)
    files = music.corpus_files(f"folder:{tmp_path}")
    path = music.cache_path(files)
    tunes = [music.parse_file(f) for f in files]
    other = FileLock(str(path.with_suffix(".lock")))
    other.acquire()

    def cancel(done, total, name):
        assert (done, name) == (0, "waiting for another process parsing them")
        raise InterruptedError("cancelled")

    with pytest.raises(InterruptedError):
        music.load_melodies(f"folder:{tmp_path}", transpose=0, progress=cancel)
    music._write_cache(path, tunes)  # the other process finishes its parse...
    waits = []

    def waiting(done, total, name):
        assert done == 0, "parsed again instead of reading the other process's cache"
        waits.append(name)
        if len(waits) == 2:
            other.release()  # ...and lets go

    mel = music.load_melodies(f"folder:{tmp_path}", transpose=0, progress=waiting)
    assert len(waits) == 2 and mel.train_x.shape[0] > 0


def test_an_unwritable_cache_folder_still_loads(tmp_path, monkeypatch):
    pytest.importorskip("music21")
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache folder would go")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    _write_tunes(tmp_path, 3)
    assert music.load_melodies(f"folder:{tmp_path}", transpose=0).train_x.shape[0] > 0


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
    # bwv1.6 opens with two horns: its melody is the soprano's, read by name.
    assert "bwv1.6.mxl" in mel.stats["melody_not_first_part"]


# The shared tunes the split must keep on one side (found by hand in the corpus).
SHARED_TUNES = [("bwv159.5", "bwv245.14", "bwv245.28"), ("bwv108.6", "bwv74.8"),
                ("bwv153.1", "bwv77.6"), ("bwv154.8", "bwv157.5", "bwv244.29-a", "bwv124.6"),
                ("bwv248.12-2", "bwv11.6", "bwv43.11"), ("bwv397", "bwv20.7", "bwv20.11"),
                ("bwv139.6", "bwv402")]


@pytest.mark.slow
def test_whole_corpus_sopranos_and_shared_tunes():
    """All 408 files (parsed once into the user's cache, minutes the first time)."""
    pytest.importorskip("music21")
    mel = music.load_melodies("bach", transpose=0)
    st = mel.stats
    assert st["files"] == 408 and st["not_chorale"] == ["bwv846.mxl"]
    assert len(mel.tunes) == 407 and "bwv846.mxl" not in mel.tunes
    moved = set(st["melody_not_first_part"])
    assert {"bwv1.6.mxl", "bwv31.9.mxl", "bwv128.5.mxl", "bwv248.23-2.mxl"} <= moved
    index = {n[:-4]: i for i, n in enumerate(mel.tunes)}
    test = set(mel.test_tune.tolist())
    for group in SHARED_TUNES:
        sides = {index[name] in test for name in group}
        assert len(sides) == 1, group
    train = {music._shape(x) for x in mel.train_x.astype(np.int64)}
    assert not any(music._shape(x) in train for x in mel.test_x.astype(np.int64))
    assert 0.08 < len(test) / len(mel.tunes) < 0.14
