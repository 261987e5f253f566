"""What data a run uses: sources, task (vocabulary), splits. A frozen, JSON-friendly description.

Tasks, as in the TensorFlow ``speech_commands`` example and the Speech Commands paper:

* ``"12"``: the ten command words + ``_silence_`` + ``_unknown_`` (every other word), with silence
  and unknown examples each ``10 %`` of the word examples of a split.
* ``"35"``: every word folder is a class (all 35 words of v2, 30 of v1); no silence/unknown.
* ``"digits"``: ``zero`` .. ``nine``; folders named ``0`` .. ``9`` (FSDD) count as those words, so
  FSDD and Speech Commands digits combine into one vocabulary.
* explicit ``words``: those words (+ silence and unknown, unless switched off).
* neither task nor words: every label folder is a class.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

SILENCE = "_silence_"
UNKNOWN = "_unknown_"
TASK_12_WORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
# FSDD names its folders by digit; the "digits" task maps them onto the Speech Commands words.
DIGIT_ALIASES = tuple((str(digit), word) for digit, word in enumerate(DIGIT_WORDS))
TASKS = ("12", "35", "digits")
# _unknown_ may outnumber the words: a custom word of a few takes learns to reject other words
# from several times as many examples of them (speechrnn.negatives).
MAX_UNKNOWN_PCT = 1000.0
SPEECH_COMMANDS_PREFIX = "speech-commands:"
# Sources used only for testing whatever the split settings: the official v2 test archive.
TEST_ONLY_SOURCES = ("speech-commands:v2-test",)


@dataclass(frozen=True)
class DataSpec:
    """Everything that decides which clips, labels and splits a run sees.

    ``sources`` are folders in Speech Commands layout or ``"speech-commands:v1"``,
    ``"speech-commands:v2"``, ``"speech-commands:v2-test"`` (downloaded into ``data_dir`` when
    missing). ``include_silence`` / ``include_unknown`` default (``None``) to on for task ``"12"``
    and explicit ``words``, off otherwise. ``test_sources`` lists sources whose clips all go to
    the testing split (e.g. a folder given to ``evaluate``); ``speech-commands:v2-test`` always does.
    ``label_aliases`` renames label folders (``(("0", "zero"), ...)``) before the task applies.
    ``unknown_by_word``: the other words (sampled by ``unknown_pct`` as usual) train as classes of
    their own, named by their folders, instead of one ``_unknown_`` class: a first stage whose network
    a run on the task's labels then starts from (``TrainConfig.init_from``); measured for the
    commands model in assets/README.md.
    """

    sources: tuple[str, ...]
    task: str | None = None
    words: tuple[str, ...] | None = None
    include_silence: bool | None = None
    include_unknown: bool | None = None
    silence_pct: float = 10.0
    unknown_pct: float = 10.0
    validation_pct: float = 10.0
    testing_pct: float = 10.0
    noise_dirs: tuple[str, ...] = ()
    data_dir: str | None = None
    seed: int = 0
    test_sources: tuple[str, ...] = ()
    label_aliases: tuple[tuple[str, str], ...] = ()
    unknown_by_word: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.sources, str):
            object.__setattr__(self, "sources", (self.sources,))
        if not self.sources:
            raise ValueError("DataSpec needs at least one source")
        if self.task is not None and self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, not {self.task!r}")
        if self.task is not None and self.words:
            raise ValueError("give either a task or words, not both")
        for name in ("silence_pct", "validation_pct", "testing_pct"):
            if not 0 <= getattr(self, name) <= 100:
                raise ValueError(f"{name} must be within 0..100")
        if not 0 <= self.unknown_pct <= MAX_UNKNOWN_PCT:
            raise ValueError(f"unknown_pct must be within 0..{MAX_UNKNOWN_PCT:g}")
        if self.unknown_by_word and not (self.vocabulary and self.unknown_enabled):
            raise ValueError("unknown_by_word needs a vocabulary (a task or words) with unknown on")
        if self.validation_pct + self.testing_pct >= 100:
            raise ValueError("validation_pct + testing_pct must leave some training data")

    @property
    def vocabulary(self) -> tuple[str, ...] | None:
        """The chosen words, or None when every label folder is a class (task "35" or none)."""
        if self.words:
            return tuple(self.words)
        if self.task == "12":
            return TASK_12_WORDS
        if self.task == "digits":
            return DIGIT_WORDS
        return None

    @property
    def silence_enabled(self) -> bool:
        if self.include_silence is not None:
            return self.include_silence
        return self.task == "12" or bool(self.words)

    @property
    def unknown_enabled(self) -> bool:
        if self.include_unknown is not None:
            return self.include_unknown
        return self.task == "12" or bool(self.words)

    @property
    def aliases(self) -> dict[str, str]:
        """Label folder renames in effect (the digits task adds FSDD's digit folders)."""
        aliases = dict(DIGIT_ALIASES) if self.task == "digits" else {}
        aliases.update(dict(self.label_aliases))
        return aliases

    def is_test_only(self, source: str) -> bool:
        return source in TEST_ONLY_SOURCES or source in self.test_sources

    @property
    def scores_only(self) -> bool:
        """Every source goes to the testing split (what ``evaluate`` builds): nothing trains."""
        return all(self.is_test_only(source) for source in self.sources)

    def to_dict(self) -> dict:
        """Plain JSON-serialisable form (stored in checkpoints)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "DataSpec":
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        for key in ("sources", "words", "noise_dirs", "test_sources"):
            if known.get(key) is not None:
                known[key] = tuple(known[key])
        if known.get("label_aliases"):
            known["label_aliases"] = tuple(tuple(pair) for pair in known["label_aliases"])
        return cls(**known)


def is_speech_commands_source(source: str) -> bool:
    return source.startswith(SPEECH_COMMANDS_PREFIX)
