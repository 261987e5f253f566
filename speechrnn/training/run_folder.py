"""The run folder: refusing to overwrite a run, the curves plot, the sources' licenses."""

from __future__ import annotations

from pathlib import Path

from speechrnn.atomic import check_writable_folder
from speechrnn.errors import SpeechRNNError
from speechrnn.events import TRAIN_ON_CLIPS, curve_name
from speechrnn.training.config import LAST_NAME, PROGRESS_FILES

SPEECH_COMMANDS_LICENSE = "CC BY 4.0 (Speech Commands, Pete Warden, Google, arXiv:1804.03209)"
LICENSE_FILE_NAMES = ("LICENSE", "LICENSE.txt", "LICENSE.md", "ATTRIBUTION.txt", "ATTRIBUTION.md", "README.md")


def check_out_dir(out_dir: Path, resume: bool, force: bool) -> None:
    """Refuse to start where a run already lives (unless resuming or forced), or where nothing can be
    written, before any work.

    A folder with only a ``config.json`` (a run that stopped before its first epoch ended) holds
    nothing to lose or resume: a new run may start there.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise SpeechRNNError(f"{out_dir}: is a file, not a run folder")
    if resume:
        if not (out_dir / LAST_NAME).is_file():
            raise SpeechRNNError(f"{out_dir}: no run to resume (no {LAST_NAME} in it)")
    else:
        _refuse_existing_run(out_dir, force)
    check_writable_folder(out_dir)


def _refuse_existing_run(out_dir: Path, force: bool) -> None:
    existing = [name for name in PROGRESS_FILES if (out_dir / name).exists()]
    if existing and not force:
        raise SpeechRNNError(f"{out_dir}: already holds a training run ({', '.join(existing)}); "
                             "use --resume to continue it or --force to replace it")


def plot_curves(history: list[dict], path: Path, train_scored_on: str = TRAIN_ON_CLIPS) -> Path:
    """Loss and accuracy per epoch (train and validation) as a PNG, without pyplot state; the curves
    are named as the app names them (``curve_name``: "train (frames)" where training counts frames)."""
    from matplotlib.figure import Figure

    from speechrnn.evaluate import save_figure_atomic

    epochs = [row["epoch"] for row in history]
    figure = Figure(figsize=(10, 4))
    loss_axes, acc_axes = figure.subplots(1, 2)
    for key, axes, scale in (("train_loss", loss_axes, 1), ("val_loss", loss_axes, 1),
                             ("train_acc", acc_axes, 100), ("val_acc", acc_axes, 100)):
        points = [(e, row[key] * scale) for e, row in zip(epochs, history) if row.get(key) is not None]
        if points:
            axes.plot(*zip(*points), marker="o", markersize=3, label=curve_name(key, train_scored_on))
    loss_axes.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    acc_axes.set(xlabel="epoch", ylabel="%", title="accuracy")
    for axes in (loss_axes, acc_axes):
        axes.grid(alpha=0.3)
        if axes.get_legend_handles_labels()[0]:
            axes.legend()
    return save_figure_atomic(figure, path)


def source_licenses(description: dict) -> dict[str, str]:
    """A license line per source: known for Speech Commands, else the license file found in it."""
    out = {}
    for source in description.get("sources", []):
        name, root = source.get("name", ""), Path(source.get("path", ""))
        if name.startswith("speech-commands:"):
            out[name] = SPEECH_COMMANDS_LICENSE
            continue
        files = [root / n for n in LICENSE_FILE_NAMES if (root / n).is_file()]
        out[name] = f"see {files[0]}" if files else "unknown (no LICENSE or ATTRIBUTION file in the folder)"
    return out

