"""What every benchmark section gets: mode, folders, and the sizes that --quick shrinks."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TEST_DATA = REPO / "tests" / "data"  # small real clips shipped with the repo (quick mode)
DEFAULT_MODEL = REPO / "assets" / "default_model.pt"


class Skipped(Exception):
    """A section cannot run here (missing data, model or teammate API); the message says why."""


@dataclass
class BenchContext:
    quick: bool
    out_dir: Path
    work_dir: Path  # scratch space for trained models, synthetic clips, streams
    data_root: Path | None  # folder holding fsdd/, speech_commands_sample/, speech_commands_background_noise/
    default_model: Path = DEFAULT_MODEL
    seed: int = 0
    shared: dict = field(default_factory=dict)  # results one section hands to another

    @property
    def min_seconds(self) -> float:
        """Wall time each timed measurement runs for (quick: just enough to execute the code)."""
        return 0.05 if self.quick else 3.0

    def require_data(self) -> Path:
        if self.data_root is None or not self.data_root.is_dir():
            raise Skipped(f"no data root (pass --data-root; looked at {self.data_root})")
        return self.data_root
