"""Sound output through ``sounddevice`` (PortAudio), when this computer has both.

``sounddevice`` is optional (``pip install 'vigui[audio]'``; on Linux it also needs the
system's PortAudio, e.g. ``apt install libportaudio2``). :func:`output_status` says
once whether sound can play and, if not, why; the Music VAE page then offers Save as
WAV / MIDI instead. Playing is non-blocking (PortAudio's own thread) and a new sound
stops the one before. No Qt here.
"""
from __future__ import annotations

import functools

import numpy as np

__all__ = ["output_status", "play", "stop"]


@functools.lru_cache(maxsize=1)
def output_status() -> tuple[bool, str]:
    """(True, device name) when sound can play, else (False, the reason in one line)."""
    try:
        import sounddevice as sd
    except ImportError:
        return False, ("no sound output: the sounddevice package is not installed "
                       "(pip install 'vigui[audio]')")
    except OSError as exc:  # the package is there, PortAudio is not
        return False, f"no sound output: PortAudio is missing ({exc}); apt install libportaudio2"
    try:
        info = sd.query_devices(kind="output")
    except Exception as exc:  # PortAudioError, ValueError: no default output device
        return False, f"no sound output: no audio output device ({exc})"
    return True, str(info.get("name", "default output")) if isinstance(info, dict) else "default output"


def play(audio: np.ndarray, sample_rate: int) -> None:
    """Start playing mono float audio; raises RuntimeError with the reason when sound
    cannot play here."""
    ok, why = output_status()
    if not ok:
        raise RuntimeError(why)
    import sounddevice as sd

    sd.stop()
    sd.play(np.asarray(audio, dtype=np.float32), int(sample_rate))


def stop() -> None:
    """Stop any sound this module started (nothing happens without sound output)."""
    if output_status()[0]:
        import sounddevice as sd

        sd.stop()
