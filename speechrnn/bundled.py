"""The models shipped with speechrnn, by name: ``digits`` and ``commands``.

A bundled model is a checkpoint file in ``assets/`` of a source checkout (or the installed data
folder ``<prefix>/share/speechrnn``). A file that is not there is simply not offered: a checkout
may hold only some of them. Everything that takes a model from a user (``speechrnn listen
--model``, ``speechrnn info``, the app's model chooser) accepts a bundled name or a checkpoint path
and resolves it with :func:`resolve_model`.

Every function takes ``assets_dir``: the folder to look in (None = the standard places), so that
tests and tools can point at a folder of their own.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Mapping

from speechrnn.errors import CheckpointError

# name -> file in the assets folder, in the order they are offered
BUNDLED_MODELS: dict[str, str] = {"digits": "default_model.pt", "commands": "commands_model.pt"}
DEFAULT_BUNDLED = "digits"  # what runs when no model is given
TITLES = {"digits": "Digits", "commands": "Commands"}  # how the app names them


def asset_dirs() -> tuple[Path, ...]:
    """Where bundled models are looked for, first match wins: the checkout's ``assets/``, then the
    installed data folder."""
    return (
        Path(__file__).resolve().parent.parent / "assets",  # source checkout / editable install
        Path(sys.prefix) / "share" / "speechrnn",  # installed data files
    )


def _dirs(assets_dir: str | Path | None) -> tuple[Path, ...]:
    return (Path(assets_dir),) if assets_dir is not None else asset_dirs()


def bundled_model_path(name: str, assets_dir: str | Path | None = None) -> Path:
    """Where the bundled model ``name`` is (or would be, when missing: the first place looked in)."""
    if name not in BUNDLED_MODELS:
        raise CheckpointError(f"{name}: not a bundled model (choose {', '.join(BUNDLED_MODELS)})")
    candidates = [folder / BUNDLED_MODELS[name] for folder in _dirs(assets_dir)]
    return next((path for path in candidates if path.is_file()), candidates[0])


def available_models(assets_dir: str | Path | None = None) -> dict[str, Path]:
    """The bundled models whose file exists, name -> path, in the order of :data:`BUNDLED_MODELS`."""
    found = {name: bundled_model_path(name, assets_dir) for name in BUNDLED_MODELS}
    return {name: path for name, path in found.items() if path.is_file()}


def bundled_name(path: str | Path, assets_dir: str | Path | None = None) -> str | None:
    """The bundled name of ``path`` ("digits", ...), or None for any other file."""
    try:
        target = Path(path).resolve()
    except OSError:
        return None
    for name, candidate in available_models(assets_dir).items():
        if candidate.resolve() == target:
            return name
    return None


def _choices(assets_dir: str | Path | None) -> str:
    names = list(available_models(assets_dir))
    return (", ".join(names) + " or " if names else "") + "a checkpoint file (.pt)"


def resolve_model(model: str | Path | None, assets_dir: str | Path | None = None) -> Path:
    """A user's model argument -> a checkpoint path.

    ``None`` is the default bundled model; a bundled name ("digits", "commands") is its file; anything
    else is a path, which must exist (write ``./digits`` for a file named like a bundled model).
    Otherwise a one-line :class:`CheckpointError` names the choices.
    """
    text = DEFAULT_BUNDLED if model is None else str(model)
    if text in BUNDLED_MODELS:
        path = bundled_model_path(text, assets_dir)
        if not path.is_file():
            raise CheckpointError(f"{path}: the bundled '{text}' model is not installed here; "
                                  f"choose {_choices(assets_dir)}")
        return path
    path = Path(text).expanduser()
    if not path.exists():
        raise CheckpointError(f"{text}: no such checkpoint file, nor a bundled model; choose {_choices(assets_dir)}")
    return path


def held_out_figures(metrics: Mapping[str, Any]) -> str:
    """A checkpoint's held-out test accuracy, overall and per source, as one line ("" when none).

    ``test_accuracy`` / ``test_per_source`` are what training stores after testing the best model on
    its held-out split (speakers it never trained on).
    """
    accuracy = metrics.get("test_accuracy")
    if not isinstance(accuracy, (int, float)):
        return ""
    clips = metrics.get("test_clips")
    text = f"{100 * accuracy:.1f} % on " + (f"{clips} held-out clips" if isinstance(clips, int) else "held-out clips")
    per_source = metrics.get("test_per_source") or {}
    parts = [f"{name} {100 * values['accuracy']:.1f} %" for name, values in per_source.items()
             if isinstance(values, dict) and isinstance(values.get("accuracy"), (int, float))
             and not name.startswith("_")]
    return text + (": " + ", ".join(parts) if len(parts) > 1 else "")
