"""Speech with phoneme timings from eSpeak NG, through its C API (ctypes).

The library and its data come from the optional ``espeakng-loader`` package (libespeak-ng 1.52;
``pip install .[speech]``). eSpeak NG is GPL-3.0: it is loaded at run time, never vendored, and
everything else in the project works without it (:func:`espeak_available`).

The synthesiser runs in synchronous mode with phoneme events: its callback receives the audio
(int16 at 22.05 kHz) and, for every phoneme, an event carrying the phoneme's name and the index
of the sample where it starts. Consecutive events give each phoneme's start and end, so a mouth
driven by that timeline is in sync with the audio by construction.

C API: ``speak_lib.h`` of github.com/espeak-ng/espeak-ng (``espeak_Initialize``,
``espeak_SetSynthCallback``, ``espeak_Synth``, ``espeak_EVENT``).
"""

from __future__ import annotations

import ctypes
import functools
import threading
from dataclasses import dataclass

import numpy as np

from lipreading.utils.errors import UserError

# speak_lib.h constants
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_PHONEME_EVENTS = 0x0001
_INITIALIZE_DONT_EXIT = 0x8000  # without it the library calls exit() on an error
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_EVENT_LIST_TERMINATED, _EVENT_WORD, _EVENT_END, _EVENT_PHONEME = 0, 1, 5, 7
_PARAMETERS = {"rate": 1, "volume": 2, "pitch": 3, "range": 4, "wordgap": 7}

INSTALL_HINT = "install the optional speech extra: pip install '.[speech]' (espeakng-loader, GPL-3.0)"


class SpeechUnavailable(UserError):
    """eSpeak NG (the ``espeakng-loader`` package) is not installed."""


class SpeechError(UserError):
    """eSpeak NG refused a voice, a parameter or a text."""


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),  # milliseconds (coarse)
        ("sample", ctypes.c_int),  # index of the sample where the event happens
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


_Callback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


@dataclass(frozen=True)
class Voice:
    """How one synthetic talker sounds: an eSpeak voice (with variant) and its prosody."""

    name: str = "en-us"  # e.g. "en-us+m3", "cmn-latn-pinyin+f2"
    rate: int = 175  # words per minute (eSpeak's default 175)
    pitch: int = 50  # 0..99 (base pitch)
    pitch_range: int = 50  # 0..99 (intonation)

    @property
    def sex(self) -> str:
        """``female`` for eSpeak NG's female variants (``+f1``, ``+f2``, ..), ``male`` for the others
        (the default voice and the ``+m`` variants are male)."""
        return "female" if "+f" in self.name else "male"


@dataclass(frozen=True)
class Utterance:
    """Synthesised speech: the waveform and its phoneme and word timings (sample indices)."""

    audio: np.ndarray  # float32 (N,) in [-1, 1]
    sample_rate: int
    phonemes: list[tuple[str, int, int]]  # (eSpeak phoneme name, start sample, end sample)
    words: list[int]  # index (0-based) of the word each phoneme belongs to (-1 before the first word)


def espeak_available() -> bool:
    """Whether the optional ``espeakng-loader`` package is installed."""
    try:
        import espeakng_loader  # noqa: F401
    except ImportError:
        return False
    return True


def require_espeak() -> None:
    """Raise :class:`SpeechUnavailable` with the install command when eSpeak NG is missing."""
    if not espeak_available():
        raise SpeechUnavailable(f"synthetic speech needs eSpeak NG: {INSTALL_HINT}")


class _Espeak:
    """The process's one eSpeak NG instance (the library keeps global state)."""

    def __init__(self) -> None:
        try:
            import espeakng_loader
        except ImportError as e:
            raise SpeechUnavailable(f"synthetic speech needs eSpeak NG: {INSTALL_HINT}") from e
        lib = ctypes.CDLL(espeakng_loader.get_library_path())
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [
            ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
            ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
        ]
        data_path = espeakng_loader.get_data_path()
        self.sample_rate = lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 0, str(data_path).encode(), _INITIALIZE_PHONEME_EVENTS | _INITIALIZE_DONT_EXIT
        )
        if self.sample_rate <= 0:
            raise SpeechError(f"eSpeak NG failed to initialise with its data at {data_path}")
        self.lib = lib
        self.lock = threading.Lock()
        self._chunks: list[np.ndarray] = []
        self._events: list[tuple[int, int, str]] = []
        self._callback = _Callback(self._on_synth)  # kept referenced: the library calls it
        lib.espeak_SetSynthCallback(self._callback)

    def _on_synth(self, wav: ctypes.POINTER(ctypes.c_short), count: int, events: ctypes.POINTER(_Event)) -> int:
        if count > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, (count,)).copy())
        i = 0
        while events[i].type != _EVENT_LIST_TERMINATED:
            event = events[i]
            if event.type == _EVENT_PHONEME:
                self._events.append((_EVENT_PHONEME, event.sample, event.id.string.decode("utf-8", "replace")))
            elif event.type in (_EVENT_WORD, _EVENT_END):
                self._events.append((event.type, event.sample, ""))
            i += 1
        return 0

    def synthesize(self, text: str, voice: Voice) -> Utterance:
        with self.lock:
            if self.lib.espeak_SetVoiceByName(voice.name.encode()) != 0:
                raise SpeechError(f"eSpeak NG has no voice {voice.name!r} (e.g. 'en-us', 'en-us+m3', 'cmn-latn-pinyin')")
            for name, value in (("rate", voice.rate), ("pitch", voice.pitch), ("range", voice.pitch_range)):
                if self.lib.espeak_SetParameter(_PARAMETERS[name], int(value), 0) != 0:
                    raise SpeechError(f"eSpeak NG refused {name}={value}")
            self._chunks, self._events = [], []
            encoded = text.encode("utf-8")
            status = self.lib.espeak_Synth(encoded, len(encoded) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
            self.lib.espeak_Synchronize()
            if status != 0:
                raise SpeechError(f"eSpeak NG could not synthesise {text!r} (error {status})")
            chunks, events = self._chunks, self._events
        audio = np.concatenate(chunks) if chunks else np.zeros(0, np.int16)
        return _utterance(audio.astype(np.float32) / 32768.0, self.sample_rate, events)


def _utterance(audio: np.ndarray, sample_rate: int, events: list[tuple[int, int, str]]) -> Utterance:
    """Phoneme spans from the event stream: each phoneme lasts until the next phoneme (or the end)."""
    phonemes: list[tuple[str, int, int]] = []
    words: list[int] = []
    word = -1
    pending: tuple[str, int] | None = None
    for kind, sample, name in events:
        sample = min(max(sample, 0), len(audio))
        if kind == _EVENT_WORD:
            word += 1
            continue
        if pending is not None:
            phonemes.append((pending[0], pending[1], max(sample, pending[1])))
            pending = None
        if kind == _EVENT_PHONEME:
            pending = (name, sample)
            words.append(word)
    if pending is not None:
        phonemes.append((pending[0], pending[1], len(audio)))
    return Utterance(audio=audio, sample_rate=sample_rate, phonemes=phonemes, words=words)


@functools.cache
def _engine() -> _Espeak:
    return _Espeak()


def synthesize(text: str, voice: Voice = Voice()) -> Utterance:
    """Speak ``text`` with ``voice``: 22.05 kHz audio and every phoneme's span in samples.

    NOTE: eSpeak NG's timings vary by about a millisecond between calls in one process, so two
    renderings of one text are close but not bit-identical.
    """
    return _engine().synthesize(text, voice)
