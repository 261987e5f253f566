"""``speechrnn-gui`` / ``python -m gui``: open the window, start listening with the active model.

Start-up order keeps the first listening frame early: the window (Qt, pyqtgraph) appears first,
the microphone opens at once (no torch needed), and the model is read in a worker thread, where
torch is imported; the recognizer starts as soon as it is loaded.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from gui.settings import APPLICATION, ORGANIZATION


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="speechrnn-gui",
        description="speechrnn desktop app: listen live, record your own words, train and evaluate models.",
    )
    parser.add_argument("--model", metavar="NAME|PATH", help="model to listen with: a bundled one (digits, "
                        "commands) or a file (default: the last one used, else the bundled digits model)")
    parser.add_argument("--device", metavar="X", help="microphone: index or part of its name "
                        "(default: the one chosen last time, else the system default)")
    parser.add_argument("--theme", choices=("system", "light", "dark"), help="colour theme (remembered)")
    parser.add_argument("--panel", choices=("listen", "record", "train", "evaluate", "models"),
                        help="panel to open (default: listen)")
    return parser.parse_args(argv)


def build_window(args: argparse.Namespace, app=None, assets_dir: Path | None = None):
    """Create the app objects and the main window (also used by tests and the screenshot script).

    ``assets_dir``: where the bundled models are (None: the library's standard places)."""
    from PySide6.QtWidgets import QApplication

    from gui.audio_input import AudioInput
    from gui.context import AppContext, Notifier
    from gui.main_window import MainWindow
    from gui.session import ModelSession
    from gui.settings import Settings
    from gui.theme import apply_theme

    app = app or QApplication.instance()
    settings = Settings()
    if args.theme:
        settings.theme = args.theme
    colors = apply_theme(app, settings.theme)
    notify = Notifier()
    ctx = AppContext(settings=settings, model=ModelSession(settings, assets_dir), audio=AudioInput(), notify=notify,
                     colors=colors, input_device=args.device)
    window = MainWindow(ctx)
    return window


def initial_model(args: argparse.Namespace, settings, assets_dir: Path | None = None) -> str | None:
    """--model, else the last active model (a bundled one by name) if it is still there, else None (=
    the bundled default)."""
    from speechrnn.bundled import available_models

    if args.model:
        return args.model
    remembered = settings.active_model
    if remembered in available_models(assets_dir) or (remembered and Path(remembered).is_file()):
        return remembered
    return None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from PySide6.QtCore import QCoreApplication, Qt, QTimer
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication

    QCoreApplication.setOrganizationName(ORGANIZATION)
    QCoreApplication.setApplicationName(APPLICATION)
    QGuiApplication.setHighDpiScaleFactorRoundingPolicy(Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
    app = QApplication(sys.argv[:1])
    app.setApplicationDisplayName("speechrnn")
    app.setDesktopFileName("speechrnn-gui")

    window = build_window(args, app)
    window.show()
    window.show_panel(args.panel or "listen")
    # Paint the window before the model loader starts importing torch in its thread (the import
    # holds the GIL much of the time and would delay the first paint by a second).
    app.processEvents()
    window.ctx.model.activate(initial_model(args, window.ctx.settings))

    # Ctrl-C in the terminal closes the window cleanly (Python sees signals only between Qt events).
    signal.signal(signal.SIGINT, lambda *_: window.close())
    ticker = QTimer()
    ticker.start(200)
    ticker.timeout.connect(lambda: None)
    return app.exec()


if __name__ == "__main__":
    raise SystemExit(main())
