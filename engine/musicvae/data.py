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
(``music21/corpus/bach/*.mxl``), takes the soprano (the first part), cuts windows of
``STEPS`` steps starting at every bar line, and splits them train/test *by tune*:
chorales that share half their phrases (one melody harmonised twice) go to the same
side, so no melody is in both. The training phrases are transposed by up to
``transpose`` semitones each way (augmentation); the test phrases stay in their key.
``load_melodies("folder:/my/tunes")`` does the same with a folder of MIDI or MusicXML
files (the top line of each; a file that cannot be read is named in the error).

Parsing the corpus with music21 takes about a minute; the phrases are cached once in
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

import numpy as np

__all__ = ["REST", "HOLD", "LOW", "HIGH", "N_TOKENS", "STEPS", "STEPS_PER_QUARTER",
           "KEY_NAMES", "MusicDataError", "Melodies", "Tune", "note_on", "pitch_of",
           "notes_to_tokens", "tokens_to_notes", "transpose", "is_valid", "phrases_of",
           "parse_file", "corpus_files", "load_melodies", "split_by_tune", "token_name"]

REST, HOLD = 0, 1
LOW, HIGH = 48, 84          # C3 .. C6: every chorale soprano, transposed +-6, fits
N_TOKENS = 2 + HIGH - LOW + 1
STEPS_PER_QUARTER = 4       # a 16th-note grid
STEPS = 32                  # two bars of 4/4
CACHE_VERSION = 1
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
    return None if token < 2 else LOW + int(token) - 2


def token_name(token: int) -> str:
    """'rest', 'hold' or the note name of a note-on token (C4 = MIDI 60)."""
    if token == REST:
        return "rest"
    if token == HOLD:
        return "hold"
    p = pitch_of(token)
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


def tokens_to_notes(tokens: Sequence[int]) -> list[tuple[int, int, int]]:
    """Tokens -> ``(pitch, start, length)`` notes. A HOLD after a REST (which no encoded
    melody contains, but a decoder may emit) is read as a rest."""
    notes: list[list[int]] = []
    sounding = False
    for i, t in enumerate(np.asarray(tokens, dtype=np.int64).tolist()):
        if t >= 2:
            notes.append([pitch_of(t), i, 1])
            sounding = True
        elif t == HOLD and sounding:
            notes[-1][2] += 1
        else:
            sounding = False
    return [tuple(n) for n in notes]


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
    steps), its key (index into KEY_NAMES, -1 unknown) and its file name."""

    name: str
    tokens: np.ndarray
    bars: np.ndarray
    key: int = -1


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


def parse_file(path: str | os.PathLike) -> Tune:
    """Read one MIDI or MusicXML file with music21: the top part's melody (the highest
    note of any chord), quantised to the 16th grid; its bars and key.

    Raises MusicDataError naming the file when it cannot be read or holds no notes."""
    path = Path(path)
    m21 = _music21()
    from music21 import chord, converter, note

    try:
        # forceSource: no music21 pickle cache (engine.musicvae.data caches the phrases itself)
        score = converter.parse(str(path), quantizePost=True, forceSource=True)
    except Exception as exc:  # music21 raises many kinds of errors on bad input
        raise MusicDataError(f"{path}: cannot read this file as MIDI or MusicXML "
                             f"({type(exc).__name__}: {exc})") from exc
    parts = list(getattr(score, "parts", []))
    part = parts[0] if parts else score
    try:
        flat = part.stripTies().flatten()
    except Exception as exc:
        raise MusicDataError(f"{path}: cannot read its notes ({exc})") from exc
    events = []
    for el in flat.notes:
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
    if not events:
        raise MusicDataError(f"{path}: holds no notes")
    events.sort()
    total = max(e for _, e, _ in events)
    tokens = np.full(total, REST, dtype=np.int64)
    for start, end, pitch in events:  # later notes cut earlier ones (a melody line)
        p = min(max(pitch, LOW - 1), HIGH + 1)  # out of range: marked, phrases dropped
        tokens[start] = 2 + p - LOW if LOW <= p <= HIGH else -1
        tokens[start + 1:end] = HOLD if tokens[start] >= 0 else -1
    bars = _bar_starts(part, total)
    return Tune(path.name, tokens, bars, _key_of(score))


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
    quick slice for tests). ``progress(done, total, file)`` is called while parsing."""
    if not isinstance(transpose, (int, np.integer)) or not 0 <= transpose <= 12:
        raise ValueError(f"transpose must be an integer in 0..12, got {transpose!r}")
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    files = corpus_files(name)
    if limit is not None:
        if limit < 2:
            raise ValueError(f"limit must be at least 2, got {limit!r}")
        files = files[:limit]
    names, keys, phrases = _phrases_cached(files, cache, progress)
    tune_of = np.concatenate([np.full(len(p), i) for i, p in enumerate(phrases)])
    all_x = np.concatenate(phrases) if phrases else np.zeros((0, STEPS), np.int64)
    test_tunes = split_by_tune(phrases, test_fraction)
    if not test_tunes or len(test_tunes) == len(phrases):
        raise MusicDataError(f"dataset {name!r}: {len(phrases)} pieces with usable phrases "
                             "are too few to split into train and test")
    is_test = np.isin(tune_of, sorted(test_tunes))
    key = np.array(keys, dtype=np.int64)[tune_of]

    train = [(all_x[~is_test], key[~is_test], tune_of[~is_test], 0)]
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
        source=f"{len(files)} files ({name})",
    )


def _shift_key(key: np.ndarray, k: int) -> np.ndarray:
    out = key.copy()
    known = key >= 0
    out[known] = (key[known] // 12) * 12 + (key[known] % 12 + k) % 12
    return out


def split_by_tune(phrases: Sequence[np.ndarray], test_fraction: float = 0.1,
                  seed: int = 0) -> set[int]:
    """Indices of the pieces that form the test set, about ``test_fraction`` of them.

    Pieces sharing at least half of their phrases (up to transposition) are one tune
    (Bach harmonised many melodies more than once) and land on the same side."""
    shapes = [{_shape(p) for p in ph} for ph in phrases]
    parent = list(range(len(phrases)))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(shapes)):
        for j in range(i + 1, len(shapes)):
            a, b = shapes[i], shapes[j]
            if a and b and len(a & b) >= 0.5 * min(len(a), len(b)):
                parent[find(i)] = find(j)
    groups: dict[int, list[int]] = {}
    for i in range(len(phrases)):
        if len(phrases[i]):
            groups.setdefault(find(i), []).append(i)
    order = list(groups.values())
    np.random.default_rng(seed).shuffle(order)
    n_test = max(1, round(test_fraction * sum(len(g) for g in order)))
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
    from engine.data.datasets import cache_dir

    return cache_dir().parent / "music" / f"phrases-{_signature(files)}.npz"


def _phrases_cached(files: Sequence[Path], cache: bool, progress: ProgressFn | None):
    """(names, keys, [phrases (n_i, STEPS) per file]) from the cache or by parsing."""
    path = cache_path(files)
    if cache and path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                counts = z["counts"]
                x = z["tokens"].astype(np.int64)
                phrases = np.split(x, np.cumsum(counts)[:-1]) if len(counts) else []
                return meta["names"], meta["keys"], phrases
        except (OSError, ValueError, KeyError):
            pass  # a damaged cache is parsed again and rewritten
    names, keys, phrases = [], [], []
    for i, f in enumerate(files):
        if progress is not None:
            progress(i, len(files), f.name)
        tune = parse_file(f)
        p = phrases_of(tune)
        p = p[(p >= 0).all(axis=1)]  # windows with out-of-range pitches are dropped
        names.append(tune.name)
        keys.append(tune.key)
        phrases.append(p)
    if progress is not None:
        progress(len(files), len(files), "")
    if cache:
        _write_cache(path, names, keys, phrases)
    return names, keys, phrases


def _write_cache(path: Path, names, keys, phrases) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
    counts = np.array([len(p) for p in phrases], dtype=np.int64)
    x = np.concatenate(phrases) if phrases else np.zeros((0, STEPS), np.int64)
    np.savez_compressed(tmp, tokens=x.astype(np.int8), counts=counts,
                        meta=json.dumps({"names": names, "keys": keys}))
    os.replace(tmp, path)
