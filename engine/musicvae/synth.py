"""A small synthesiser for token melodies (engine.musicvae.data): audio, WAV and MIDI files.

numpy and the standard library only. :func:`render` turns tokens into a mono float32
signal: each note is a sine with two soft overtones (an organ-like tone, fitting
chorales), a 5 ms attack and a 30 ms release inside the note so nothing clicks.
:func:`write_wav` writes 16-bit PCM with ``wave``; :func:`write_midi` a format-0
Standard MIDI File (480 ticks per quarter) that any sequencer opens.
"""
from __future__ import annotations

import os
import struct
import wave
from pathlib import Path

import numpy as np

from engine.musicvae import data as music

__all__ = ["SAMPLE_RATE", "TEMPO", "frequency", "render", "write_wav", "write_midi",
           "step_seconds"]

SAMPLE_RATE = 22_050
TEMPO = 90.0               # quarter notes per minute
TICKS_PER_QUARTER = 480
HARMONICS = (1.0, 0.35, 0.15)  # amplitudes of the fundamental and two overtones


def frequency(pitch) -> np.ndarray | float:
    """Equal temperament: MIDI pitch -> Hz (A4 = MIDI 69 = 440 Hz)."""
    return 440.0 * 2.0 ** ((np.asarray(pitch, dtype=np.float64) - 69.0) / 12.0)


def step_seconds(tempo: float = TEMPO) -> float:
    """Seconds per grid step (a 16th note) at ``tempo`` quarters per minute."""
    if not np.isfinite(tempo) or not 10 <= tempo <= 1000:
        raise ValueError(f"tempo must be in 10..1000 quarters per minute, got {tempo!r}")
    return 60.0 / tempo / music.STEPS_PER_QUARTER


def _flat_tokens(tokens) -> np.ndarray:
    t = np.asarray(tokens)
    if t.ndim not in (1, 2) or t.size == 0:
        raise ValueError(f"tokens must be a non-empty (steps,) or (phrases, steps) array, "
                         f"got shape {t.shape}")
    return t.reshape(-1).astype(np.int64)


def render(tokens, tempo: float = TEMPO, sample_rate: int = SAMPLE_RATE,
           gain: float = 0.25) -> np.ndarray:
    """Tokens (steps,) or (phrases, steps), played one phrase after another -> mono
    float32 audio in [-1, 1] of exactly round(total steps * step_seconds * rate) samples."""
    if not isinstance(sample_rate, (int, np.integer)) or not 4000 <= sample_rate <= 192_000:
        raise ValueError(f"sample_rate must be an integer in 4000..192000, got {sample_rate!r}")
    flat = _flat_tokens(tokens)
    dt = step_seconds(tempo)
    n = int(round(len(flat) * dt * sample_rate))
    audio = np.zeros(n, dtype=np.float64)
    attack, release = int(0.005 * sample_rate), int(0.03 * sample_rate)
    for pitch, start, length in music.tokens_to_notes(flat):
        a = int(round(start * dt * sample_rate))
        b = min(n, int(round((start + length) * dt * sample_rate)))
        t = np.arange(b - a) / sample_rate
        f = float(frequency(pitch))
        tone = sum(amp * np.sin(2 * np.pi * f * (k + 1) * t)
                   for k, amp in enumerate(HARMONICS) if f * (k + 1) < sample_rate / 2)
        env = np.exp(-1.2 * t)  # a gentle decay, like a struck organ pipe settling
        env[:attack] *= np.linspace(0, 1, attack, endpoint=False)[:len(env[:attack])]
        r = min(release, len(env))
        env[len(env) - r:] *= np.linspace(1, 0, r)
        audio[a:b] += gain * tone * env
    return np.clip(audio, -1.0, 1.0).astype(np.float32)


def write_wav(path: str | os.PathLike, audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> Path:
    """Mono float audio in [-1, 1] -> a 16-bit PCM WAV file (written atomically)."""
    audio = np.asarray(audio, dtype=np.float64).ravel()
    if not np.isfinite(audio).all():
        raise ValueError("audio holds NaN or inf")
    pcm = (np.clip(audio, -1.0, 1.0) * 32767).round().astype("<i2")
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with wave.open(str(tmp), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(int(sample_rate))
        w.writeframes(pcm.tobytes())
    os.replace(tmp, path)
    return path


def _varlen(value: int) -> bytes:
    """A MIDI variable-length quantity."""
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def write_midi(path: str | os.PathLike, tokens, tempo: float = TEMPO, program: int = 19,
               velocity: int = 80) -> Path:
    """Tokens (steps,) or (phrases, steps) -> a format-0 MIDI file (one track, channel
    1, General MIDI ``program``: 19 is a church organ), phrases one after another."""
    flat = _flat_tokens(tokens)
    step_seconds(tempo)  # validates
    ticks = TICKS_PER_QUARTER // music.STEPS_PER_QUARTER
    events: list[tuple[int, int, bytes]] = []  # (tick, order: offs first, message)
    for pitch, start, length in music.tokens_to_notes(flat):
        events.append((start * ticks, 1, bytes([0x90, pitch, velocity])))
        events.append(((start + length) * ticks, 0, bytes([0x80, pitch, 0])))
    events.sort(key=lambda e: (e[0], e[1]))
    usec = int(round(60_000_000 / tempo))
    track = bytearray(b"\x00\xff\x51\x03" + usec.to_bytes(3, "big"))
    track += b"\x00" + bytes([0xC0, program & 0x7F])
    now = 0
    for tick, _, msg in events:
        track += _varlen(tick - now) + msg
        now = tick
    end = len(flat) * ticks
    track += _varlen(end - now) + b"\xff\x2f\x00"
    data = b"MThd" + struct.pack(">IHHH", 6, 0, 1, TICKS_PER_QUARTER) + \
        b"MTrk" + struct.pack(">I", len(track)) + bytes(track)
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path
