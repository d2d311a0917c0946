"""Melodies as token sequences, and the corpora they come from (no torch, no Qt).

A melody lives on a 16th-note grid. Each grid step holds one token, as in MusicVAE
(Roberts et al., 2018)::

    REST = 0          nothing sounds
    HOLD = 1          the note sounding at the previous step goes on
    2 + (p - LOW)     a new note of MIDI pitch p starts (LOW <= p <= HIGH)

so a phrase of ``STEPS`` = 32 steps is two 4/4 bars. :func:`notes_to_tokens` and
:func:`tokens_to_notes` convert between tokens and ``(pitch, start, length)`` notes
exactly; :func:`transpose` shifts every pitch (intervals and rhythm unchanged).

Corpora. ``load_melodies("bach")`` reads the Bach chorales that music21's wheel ships
(``music21/corpus/bach/*.mxl``). The rules, in order (``Melodies.stats`` counts what each
one removed):

1. Not a chorale, left out: a piece without parts named Soprano, Alto, Tenor and Bass
   (bwv846, a prelude for keyboard, is in music21's folder).
2. The melody is the part the score names soprano (music21's ``partName``, else its
   instrument's name, beginning with "Soprano": "Soprano 1", "Soprano Oboe 1 Violin 1");
   not the first part, which in 36 chorales is a horn, trumpet, violin, oboe, recorder
   or flute line (a different line from the soprano's in 33 of them). Where no part is
   named so (your own files), the part whose notes lie highest (largest median pitch).
   See :func:`melody_part`.
3. Windows of ``STEPS`` steps start at every bar line; those with a pitch outside
   LOW..HIGH or fewer than 3 notes are dropped.
4. Split by tune: Bach harmonised many melodies more than once, often with other
   passing notes. Two pieces are one tune when at least ``SHARED`` (35 %) of the
   shorter one's runs of ``NGRAM`` (5) successive intervals also occur in the other
   (transposition-invariant, rhythm ignored); tunes are grouped transitively and whole
   groups go to the test set (:func:`split_by_melody`). Why 5 and 35 %: the known shared
   tunes (bwv159.5 ~ 245.14 / 245.28, 108.6 ~ 74.8, 153.1 ~ 77.6, 154.8 / 157.5 /
   244.29-a ~ 124.6, 248.12-2 ~ 11.6 / 43.11, 397 ~ 20.7 / 20.11, 139.6 ~ 402) share
   47 % to 84 % of their 5-interval runs, while 99 % of all pairs share at most 25 %
   (the closest pair across the split shares 30 %: bwv306 and bwv197.5, two different
   tunes with the same scale figures); the largest group has 17 pieces. With runs of
   4 the gap is narrower (known tunes from 59 %, different tunes up to 50 %; at 35 %
   scale figures chain 260 chorales into one group); runs of 6 separate them too
   (41 % against 24 %) but a tune with denser passing notes keeps fewer of them.
5. A training phrase equal, up to transposition, to a test phrase (a cadence formula,
   a held note: they recur across unrelated tunes) is dropped, so no test phrase is
   seen in training.

The training phrases are then transposed by up to ``transpose`` semitones each way
(augmentation); the test phrases stay in their key. ``load_melodies("folder:/my/tunes")``
does the same with a folder of MIDI or MusicXML files (rules 2 to 5; a file that cannot
be read is named in the error).

Parsing the corpus with music21 takes a minute or more; the melodies are cached once in
``<cache>/music/`` (``engine.data.datasets.cache_dir``) and read back in milliseconds. music21
is imported only to parse (``pip install vigui[music]``).
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock, Timeout

__all__ = ["REST", "HOLD", "LOW", "HIGH", "N_TOKENS", "STEPS", "STEPS_PER_QUARTER",
           "KEY_NAMES", "MusicDataError", "Melodies", "Tune", "note_on", "pitch_of",
           "notes_to_tokens", "tokens_to_notes", "transpose", "is_valid", "phrases_of",
           "parse_file", "corpus_files", "load_melodies", "split_by_melody", "tune_groups",
           "interval_ngrams", "melody_similarity", "melody_part", "is_chorale", "token_name"]

REST, HOLD = 0, 1
LOW, HIGH = 48, 84          # C3 .. C6: every chorale soprano, transposed +-6, fits
N_TOKENS = 2 + HIGH - LOW + 1
STEPS_PER_QUARTER = 4       # a 16th-note grid
STEPS = 32                  # two bars of 4/4
CACHE_VERSION = 2           # v2: whole melodies (soprano by name) and part names, not phrases
NGRAM = 5                   # the split compares runs of 5 intervals (6 notes) ...
SHARED = 0.35               # ... and joins two pieces sharing this share of them (one tune)
KEY_NAMES = tuple(f"{n} major" for n in ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab",
                                         "A", "Bb", "B")) + \
    tuple(f"{n} minor" for n in ("c", "c#", "d", "eb", "e", "f", "f#", "g", "g#", "a",
                                 "bb", "b"))
MUSIC_SUFFIXES = (".mid", ".midi", ".mxl", ".musicxml", ".xml")

ProgressFn = Callable[[int, int, str], None]  # (done, total, file name)


class MusicDataError(ValueError):
    """A melody corpus or file that cannot be used (the message names it)."""


# -- tokens -------------------------------------------------------------------------
def note_on(pitch: int) -> int:
    """The token that starts a note of MIDI ``pitch`` (ValueError outside LOW..HIGH)."""
    if not LOW <= int(pitch) <= HIGH:
        raise ValueError(f"pitch {pitch} is outside the range {LOW}..{HIGH}")
    return 2 + int(pitch) - LOW


def pitch_of(token: int) -> int | None:
    """The MIDI pitch a note-on token starts; None for REST and HOLD."""
    return None if token < 2 else _note_pitch(token)


def _note_pitch(token: int) -> int:
    """The MIDI pitch of a token already known to be a note-on (>= 2)."""
    return LOW + int(token) - 2


def token_name(token: int) -> str:
    """'rest', 'hold' or the note name of a note-on token (C4 = MIDI 60)."""
    if token == REST:
        return "rest"
    if token == HOLD:
        return "hold"
    p = _note_pitch(token)
    return ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")[p % 12] + \
        str(p // 12 - 1)


def notes_to_tokens(notes: Sequence[tuple[int, int, int]], steps: int = STEPS) -> np.ndarray:
    """``(pitch, start, length)`` notes (grid steps) -> ``steps`` tokens (int64).

    Notes must not overlap, must lie inside ``[0, steps)`` and have length >= 1;
    otherwise ValueError naming the note."""
    tokens = np.full(steps, REST, dtype=np.int64)
    end_prev = 0
    for pitch, start, length in sorted(notes, key=lambda n: n[1]):
        if length < 1 or start < 0 or start + length > steps:
            raise ValueError(f"note {(pitch, start, length)} does not fit {steps} steps")
        if start < end_prev:
            raise ValueError(f"note {(pitch, start, length)} overlaps the previous note")
        tokens[start] = note_on(pitch)
        tokens[start + 1:start + length] = HOLD
        end_prev = start + length
    return tokens


def tokens_to_notes(tokens: Sequence[int] | np.ndarray) -> list[tuple[int, int, int]]:
    """Tokens -> ``(pitch, start, length)`` notes. A HOLD after a REST (which no encoded
    melody contains, but a decoder may emit) is read as a rest."""
    notes: list[list[int]] = []
    sounding = False
    for i, t in enumerate(np.asarray(tokens, dtype=np.int64).tolist()):
        if t >= 2:
            notes.append([_note_pitch(t), i, 1])
            sounding = True
        elif t == HOLD and sounding:
            notes[-1][2] += 1
        else:
            sounding = False
    return [(p, s, n) for p, s, n in notes]


def is_valid(tokens: np.ndarray) -> np.ndarray:
    """Per row of a (n, steps) token array: True where every pitch is in range and no
    HOLD follows a REST (or starts the phrase)."""
    t = np.atleast_2d(np.asarray(tokens))
    in_range = ((t >= 0) & (t < N_TOKENS)).all(axis=1)
    prev = np.concatenate([np.full((len(t), 1), REST), t[:, :-1]], axis=1)
    orphan = ((t == HOLD) & (prev == REST)).any(axis=1)
    return in_range & ~orphan


def transpose(tokens: np.ndarray, semitones: int) -> np.ndarray:
    """Shift every note-on by ``semitones`` (rhythm and intervals kept). ValueError if
    a pitch would leave LOW..HIGH; see :func:`transpose_range` to stay inside."""
    t = np.array(tokens, dtype=np.int64, copy=True)
    on = t >= 2
    t[on] += int(semitones)
    if on.any() and (t[on].min() < 2 or t[on].max() >= N_TOKENS):
        raise ValueError(f"transposing by {semitones} leaves the pitch range {LOW}..{HIGH}")
    return t


def transpose_range(tokens: np.ndarray) -> tuple[int, int]:
    """The (down, up) semitone shifts that keep every note of these tokens in range."""
    on = np.asarray(tokens)[np.asarray(tokens) >= 2]
    if on.size == 0:
        return 0, 0
    return int(2 - on.min()), int(N_TOKENS - 1 - on.max())


# -- a melody from a parsed score -----------------------------------------------------
@dataclass
class Tune:
    """One piece's melody on the grid: tokens over its whole length, the bar starts (grid
    steps), its key (index into KEY_NAMES, -1 unknown), its file name, the name of the
    part the melody was read from and the names of all its parts."""

    name: str
    tokens: np.ndarray
    bars: np.ndarray
    key: int = -1
    part: str = ""
    parts: tuple[str, ...] = ()


def phrases_of(tune: Tune, steps: int = STEPS, min_notes: int = 3) -> np.ndarray:
    """Windows of ``steps`` tokens starting at every bar line of ``tune`` (n, steps).

    A window that starts inside a held note begins with that note's note-on; windows
    with fewer than ``min_notes`` notes (long rests, the final fermata) are dropped."""
    t = tune.tokens
    # The pitch sounding at each step (0 where none), to restart notes cut by the window.
    sounding = np.zeros(len(t), dtype=np.int64)
    current = 0
    for i, tok in enumerate(t.tolist()):
        current = tok if tok >= 2 else (current if tok == HOLD else 0)
        sounding[i] = current
    out = []
    for s in tune.bars.tolist():
        if s < 0 or s + steps > len(t):
            continue
        w = t[s:s + steps].copy()
        if w[0] == HOLD:
            w[0] = sounding[s] if sounding[s] else REST
            if w[0] == REST:  # a HOLD after a rest never happens; keep the rule anyway
                w[1:][np.cumprod(w[1:] == HOLD).astype(bool)] = REST
        if (w >= 2).sum() >= min_notes:
            out.append(w)
    return np.array(out, dtype=np.int64).reshape(-1, steps)


def _music21():
    try:
        import music21  # noqa: F401  (imported only to parse)
    except ImportError as exc:
        raise MusicDataError("reading melodies needs music21: pip install 'vigui[music]' "
                             f"(or pip install music21) ({exc})") from exc
    return music21


def part_name(part) -> str:
    """The name a score gives a part: music21's ``partName``, else its instrument's
    part or instrument name ('' when none)."""
    name = getattr(part, "partName", None)
    if not name:
        try:
            inst = part.getInstrument(returnDefault=False)
        except Exception:
            inst = None
        name = inst and (inst.partName or inst.instrumentName)
    return " ".join(str(name or "").split())  # "Soprano\rOboe 1,2" -> "Soprano Oboe 1,2"


def is_soprano(name: str) -> bool:
    """A part named for the soprano voice: its name begins with Soprano (any case; also
    'Soprano 1', 'Soprano Oboe 1 Violin 1' where an instrument doubles it)."""
    return name.strip().lower().startswith("soprano")


def is_chorale(names: Sequence[str]) -> bool:
    """A four-part chorale: parts named Soprano, Alto, Tenor and Bass (other parts, the
    instruments that double or accompany them, may be there too)."""
    low = [n.strip().lower() for n in names]
    return all(any(n.startswith(v) for n in low) for v in ("soprano", "alto", "tenor", "bass"))


def melody_part(names: Sequence[str], median_pitches: Sequence[float]) -> int:
    """Which part holds the melody: the first part named soprano (:func:`is_soprano`);
    where no part is named so, the part whose notes lie highest (largest median MIDI
    pitch; the first of equals). Raises ValueError when there are no parts."""
    if not len(names):
        raise ValueError("a score without parts has no melody")
    for i, name in enumerate(names):
        if is_soprano(name):
            return i
    return int(np.argmax(np.nan_to_num(np.asarray(median_pitches, float), nan=-np.inf)))


def parse_file(path: str | os.PathLike) -> Tune:
    """Read one MIDI or MusicXML file with music21: the melody part's notes (the highest
    note of any chord), quantised to the 16th grid; its bars and key. The melody part is
    the one named soprano, else the highest (:func:`melody_part`); ``Tune.part`` is its
    name, ``Tune.parts`` the names of all parts.

    Raises MusicDataError naming the file when it cannot be read or holds no notes."""
    path = Path(path)
    _music21()
    from music21 import converter

    try:
        # forceSource: no music21 pickle cache (engine.musicvae.data caches the phrases itself)
        score = converter.parse(str(path), quantizePost=True, forceSource=True)
    except Exception as exc:  # music21 raises many kinds of errors on bad input
        raise MusicDataError(f"{path}: cannot read this file as MIDI or MusicXML "
                             f"({type(exc).__name__}: {exc})") from exc
    parts = list(getattr(score, "parts", [])) or [score]
    names = [part_name(p) for p in parts]
    try:
        events = [_events(p) for p in parts]
    except Exception as exc:
        raise MusicDataError(f"{path}: cannot read its notes ({exc})") from exc
    medians = [np.median([e[2] for e in ev]) if ev else np.nan for ev in events]
    index = melody_part(names, medians)
    if not events[index]:
        raise MusicDataError(f"{path}: holds no notes")
    tokens = _tokens_of(events[index])
    bars = _bar_starts(parts[index], len(tokens))
    return Tune(path.name, tokens, bars, _key_of(score), part=names[index], parts=tuple(names))


def _events(part) -> list[tuple[int, int, int]]:
    """A part's notes as sorted (start, end, MIDI pitch) on the grid; a chord's top note."""
    from music21 import chord, note

    events = []
    for el in part.stripTies().flatten().notes:
        if el.duration.isGrace or el.quarterLength <= 0:
            continue
        if isinstance(el, chord.Chord):
            pitch = max(p.midi for p in el.pitches)
        elif isinstance(el, note.Note):
            pitch = el.pitch.midi
        else:
            continue
        start = _to_steps(el.offset)
        end = _to_steps(el.offset + el.quarterLength)
        if end > start:
            events.append((start, end, pitch))
    return sorted(events)


def _tokens_of(events: Sequence[tuple[int, int, int]]) -> np.ndarray:
    """(start, end, pitch) events -> tokens; -1 marks a note outside LOW..HIGH (the
    phrases that hold one are dropped)."""
    total = max(e for _, e, _ in events)
    tokens = np.full(total, REST, dtype=np.int64)
    for start, end, pitch in events:  # later notes cut earlier ones (a melody line)
        p = min(max(pitch, LOW - 1), HIGH + 1)
        tokens[start] = 2 + p - LOW if LOW <= p <= HIGH else -1
        tokens[start + 1:end] = HOLD if tokens[start] >= 0 else -1
    return tokens


def _to_steps(quarters) -> int:
    return int(round(float(Fraction(quarters) * STEPS_PER_QUARTER)))


def _bar_starts(part, total: int) -> np.ndarray:
    """Grid steps where bars begin (full bars only: a pickup bar is skipped)."""
    starts = []
    for m in part.getElementsByClass("Measure"):
        try:
            full = m.barDuration.quarterLength
        except Exception:
            full = m.duration.quarterLength
        if m.duration.quarterLength + 1e-9 >= full:
            starts.append(_to_steps(m.offset))
    if not starts:  # MIDI without bars: every 4/4 bar
        starts = list(range(0, total, 4 * STEPS_PER_QUARTER))
    return np.array(starts, dtype=np.int64)


def _key_of(score) -> int:
    try:
        k = score.analyze("key")
        return int(k.tonic.pitchClass) + (12 if k.mode == "minor" else 0)
    except Exception:
        return -1


# -- corpora ---------------------------------------------------------------------------
@dataclass(eq=False)
class Melodies:
    """Phrases split train/test by tune, in the shape engine.core.trainer.TorchTrainer reads.

    ``train_x`` / ``test_x``: (n, STEPS) float32 tokens (whole numbers); ``train_y`` /
    ``test_y``: key index (KEY_NAMES, -1 unknown); ``train_tune`` / ``test_tune``:
    index into ``tunes`` (file names); ``train_shift``: the transposition of each
    training phrase (0 for the test set)."""

    name: str
    train_x: np.ndarray = field(repr=False)
    train_y: np.ndarray = field(repr=False)
    test_x: np.ndarray = field(repr=False)
    test_y: np.ndarray = field(repr=False)
    train_tune: np.ndarray = field(repr=False)
    test_tune: np.ndarray = field(repr=False)
    train_shift: np.ndarray = field(repr=False)
    tunes: tuple[str, ...] = ()
    source: str = ""
    stats: dict = field(default_factory=dict, repr=False, compare=False)
    shape: tuple[int, int] = (1, STEPS)
    classes: tuple[str, ...] = KEY_NAMES

    def __post_init__(self):
        for arr in (self.train_x, self.train_y, self.test_x, self.test_y, self.train_tune,
                    self.test_tune, self.train_shift):
            arr.flags.writeable = False


def corpus_files(name: str) -> list[Path]:
    """The files of a corpus: ``bach`` (music21's chorales) or ``folder:<path>``."""
    if name == "bach":
        spec = importlib.util.find_spec("music21")
        if spec is None or not spec.submodule_search_locations:
            _music21()  # raises the install hint
            raise MusicDataError("music21 is installed but its package folder was not found")
        root = Path(list(spec.submodule_search_locations)[0]) / "corpus" / "bach"
        files = sorted(root.glob("*.mxl"))
        if not files:
            raise MusicDataError(f"music21 is installed but has no Bach chorales in {root}")
        return files
    if name.startswith("folder:"):
        folder = Path(name[len("folder:"):]).expanduser()
        if not folder.is_dir():
            raise MusicDataError(f"dataset {name!r}: {folder} is not a folder")
        files = sorted(p for p in folder.iterdir()
                       if p.is_file() and p.suffix.lower() in MUSIC_SUFFIXES)
        if not files:
            raise MusicDataError(f"dataset {name!r}: {folder} holds no MIDI or MusicXML "
                                 f"files ({', '.join(MUSIC_SUFFIXES)})")
        return files
    raise MusicDataError(f"dataset must be 'bach' or 'folder:<path>', not {name!r}")


def load_melodies(name: str = "bach", *, transpose: int = 5, test_fraction: float = 0.1,
                  limit: int | None = None, cache: bool = True,
                  progress: ProgressFn | None = None) -> Melodies:
    """Phrases of a corpus (see the module docstring), parsed once and cached.

    ``transpose``: training phrases are also shifted by -transpose..+transpose
    semitones (those that stay in range). ``limit``: only the first ``limit`` files (a
    quick slice for tests). ``progress(done, total, file)`` is called while parsing.
    ``Melodies.stats`` counts what each rule removed."""
    if not isinstance(transpose, (int, np.integer)) or not 0 <= transpose <= 12:
        raise ValueError(f"transpose must be an integer in 0..12, got {transpose!r}")
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    files = corpus_files(name)
    if limit is not None:
        if limit < 2:
            raise ValueError(f"limit must be at least 2, got {limit!r}")
        files = files[:limit]
    tunes = _tunes_cached(files, cache, progress)
    stats: dict[str, Any] = {"files": len(tunes)}
    if name == "bach":  # music21's folder also holds a few pieces that are not chorales
        stats["not_chorale"] = [t.name for t in tunes if not is_chorale(t.parts)]
        tunes = [t for t in tunes if is_chorale(t.parts)]
    stats["melody_not_first_part"] = [t.name for t in tunes if t.parts and t.part != t.parts[0]]
    phrases, out_of_range = [], 0
    for t in tunes:
        p = phrases_of(t)
        ok = (p >= 0).all(axis=1)  # windows with out-of-range pitches are dropped
        out_of_range += int((~ok).sum())
        phrases.append(p[ok])
    stats["phrases_out_of_range"] = out_of_range
    names = [t.name for t in tunes]
    keys = [t.key for t in tunes]
    tune_of = np.concatenate([np.full(len(p), i) for i, p in enumerate(phrases)]
                             or [np.zeros(0, np.int64)]).astype(np.int64)
    all_x = np.concatenate(phrases) if phrases else np.zeros((0, STEPS), np.int64)
    usable = [i for i, p in enumerate(phrases) if len(p)]
    test_tunes = split_by_melody([tunes[i].tokens for i in usable], test_fraction)
    test_tunes = {usable[i] for i in test_tunes}
    if not test_tunes or len(test_tunes) == len(usable):
        raise MusicDataError(f"dataset {name!r}: {len(usable)} pieces with usable phrases "
                             "are too few to split into train and test")
    is_test = np.isin(tune_of, sorted(test_tunes))
    # Short formulas (a cadence, a held note) recur in unrelated tunes: a training phrase
    # equal to a test phrase up to transposition is dropped, so none is seen in training.
    test_shapes = {_shape(x) for x in all_x[is_test]}
    seen = np.array([_shape(x) in test_shapes for x in all_x], dtype=bool) & ~is_test
    stats["train_phrases_shared_with_test"] = int(seen.sum())
    stats["test_tunes"] = len(test_tunes)
    key = np.array(keys, dtype=np.int64)[tune_of]

    keep = ~is_test & ~seen
    train = [(all_x[keep], key[keep], tune_of[keep], 0)]
    base_x, base_key, base_tune = train[0][:3]
    for k in [s for s in range(-transpose, transpose + 1) if s != 0]:
        lo = np.where(base_x >= 2, base_x, N_TOKENS).min(axis=1)
        hi = np.where(base_x >= 2, base_x, -1).max(axis=1)
        ok = (lo + k >= 2) & (hi + k < N_TOKENS)
        x = base_x[ok].copy()
        x[x >= 2] += k
        train.append((x, _shift_key(base_key[ok], k), base_tune[ok], k))
    train_x = np.concatenate([t[0] for t in train])
    return Melodies(
        name=name,
        train_x=train_x.astype(np.float32),
        train_y=np.concatenate([t[1] for t in train]),
        test_x=all_x[is_test].astype(np.float32),
        test_y=key[is_test],
        train_tune=np.concatenate([t[2] for t in train]),
        test_tune=tune_of[is_test],
        train_shift=np.concatenate([np.full(len(t[0]), t[3]) for t in train]),
        tunes=tuple(names),
        source=f"{len(tunes)} of {len(files)} files ({name})",
        stats=stats,
    )


def _shift_key(key: np.ndarray, k: int) -> np.ndarray:
    out = key.copy()
    known = key >= 0
    out[known] = (key[known] // 12) * 12 + (key[known] % 12 + k) % 12
    return out


# -- the split: one tune, one side ---------------------------------------------------------
def interval_ngrams(tokens: np.ndarray, n: int = NGRAM) -> set[tuple[int, ...]]:
    """The melody's runs of ``n`` successive intervals between note onsets (semitones;
    rhythm and key ignored, so a tune in another key or rhythm has the same ones)."""
    t = np.asarray(tokens, dtype=np.int64)
    iv = np.diff(t[t >= 2]).tolist()
    return {tuple(iv[i:i + n]) for i in range(len(iv) - n + 1)}


def melody_similarity(a: set, b: set) -> float:
    """The share of the shorter melody's interval n-grams that the other one has too
    (0 when either has none)."""
    if not a or not b:
        return 0.0
    return len(a & b) / min(len(a), len(b))


def tune_groups(melodies: Sequence[np.ndarray], n: int = NGRAM,
                threshold: float = SHARED) -> list[list[int]]:
    """Pieces (indices) grouped by melody: two pieces whose :func:`melody_similarity`
    reaches ``threshold`` are one tune, and so, transitively, are their groups."""
    grams = [interval_ngrams(m, n) for m in melodies]
    parent = list(range(len(grams)))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(grams)):
        for j in range(i + 1, len(grams)):
            if melody_similarity(grams[i], grams[j]) >= threshold:
                parent[find(i)] = find(j)
    groups: dict[int, list[int]] = {}
    for i in range(len(grams)):
        groups.setdefault(find(i), []).append(i)
    return list(groups.values())


def split_by_melody(melodies: Sequence[np.ndarray], test_fraction: float = 0.1,
                    seed: int = 0) -> set[int]:
    """Indices of the pieces that form the test set, about ``test_fraction`` of them,
    taken whole :func:`tune_groups` at a time (shuffled with ``seed``): a tune Bach
    harmonised several times, even with other passing notes, lands on one side."""
    order = tune_groups(melodies)
    np.random.default_rng(seed).shuffle(order)
    n_test = max(1, round(test_fraction * len(melodies)))
    test: set[int] = set()
    for g in order:
        if len(test) >= n_test:
            break
        test.update(g)
    return test


def _shape(tokens: np.ndarray) -> bytes:
    """A phrase up to transposition: pitches relative to its first note."""
    t = np.asarray(tokens, dtype=np.int64).copy()
    on = t >= 2
    if on.any():
        t[on] -= t[on][0] - 2
    return t.astype(np.int8).tobytes()


def _signature(files: Sequence[Path]) -> str:
    h = hashlib.sha1(f"v{CACHE_VERSION} steps{STEPS} {LOW}-{HIGH}".encode())
    for f in files:
        st = f.stat()
        h.update(f"{f.resolve()}|{st.st_size}|{int(st.st_mtime)}\n".encode())
    return h.hexdigest()[:16]


def cache_path(files: Sequence[Path]) -> Path:
    """Where the parsed melodies of these files are cached (named by CACHE_VERSION and
    the files' paths, sizes and times: an older format or an edited file is parsed again)."""
    from engine.data.datasets import cache_dir

    return cache_dir().parent / "music" / f"tunes-v{CACHE_VERSION}-{_signature(files)}.npz"


def _tunes_cached(files: Sequence[Path], cache: bool, progress: ProgressFn | None) -> list[Tune]:
    """Each file's melody (:func:`parse_file`), from the cache or by parsing. One process
    parses at a time (a lock file beside the cache): a second app, or a second test worker,
    waits for the first's cache instead of parsing the same corpus beside it. While it waits
    it reports progress 0, so a cancel (``progress`` raising) still ends the wait."""
    if not cache:
        return _parse(files, progress)
    path = cache_path(files)
    lock = FileLock(str(path.with_suffix(".lock")))
    while True:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            lock.acquire(timeout=0.5)
            break
        except Timeout:
            if progress is not None:
                progress(0, len(files), "waiting for another process parsing them")
        except OSError:  # no cache folder to be had (a read-only home): parse, keep nothing
            return _parse(files, progress)
    try:
        if path.is_file():
            try:
                return _read_cache(path)
            except (OSError, ValueError, KeyError):
                pass  # a damaged cache is parsed again and rewritten
        tunes = _parse(files, progress)
        _write_cache(path, tunes)
        return tunes
    finally:
        lock.release()


def _parse(files: Sequence[Path], progress: ProgressFn | None) -> list[Tune]:
    tunes = []
    for i, f in enumerate(files):
        if progress is not None:
            progress(i, len(files), f.name)
        tunes.append(parse_file(f))
    if progress is not None:
        progress(len(files), len(files), "")
    return tunes


def _read_cache(path: Path) -> list[Tune]:
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
        if meta.get("version") != CACHE_VERSION:
            raise ValueError("another cache version")
        tokens = np.split(z["tokens"].astype(np.int64), np.cumsum(z["lengths"])[:-1])
        bars = np.split(z["bars"].astype(np.int64), np.cumsum(z["n_bars"])[:-1])
    return [Tune(m["name"], t, b, m["key"], m["part"], tuple(m["parts"]))
            for m, t, b in zip(meta["tunes"], tokens, bars, strict=True)]


def _write_cache(path: Path, tunes: Sequence[Tune]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
    meta = {"version": CACHE_VERSION,
            "tunes": [{"name": t.name, "key": t.key, "part": t.part, "parts": list(t.parts)}
                      for t in tunes]}
    np.savez_compressed(
        tmp, tokens=np.concatenate([t.tokens for t in tunes]).astype(np.int8),
        lengths=np.array([len(t.tokens) for t in tunes], dtype=np.int64),
        bars=np.concatenate([t.bars for t in tunes]).astype(np.int64),
        n_bars=np.array([len(t.bars) for t in tunes], dtype=np.int64),
        meta=json.dumps(meta))
    os.replace(tmp, path)
