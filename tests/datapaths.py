"""Paths of the small real clips shipped with the tests (see data/ATTRIBUTION.md)."""

from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
SPEECH_COMMANDS = DATA / "speech_commands"
FSDD = DATA / "fsdd"
NOISE = DATA / "noise"
# digits of speakers the digits recipe holds out for testing: <word>/<clip> (see data/ATTRIBUTION.md)
HELD_OUT_DIGITS = DATA / "held_out_digits"
MODELS = DATA / "models"
WORD_MODEL = MODELS / "word_model.pt"  # made by tests/fixture_models.py
STREAM_WORD_MODEL = MODELS / "stream_word_model.pt"
