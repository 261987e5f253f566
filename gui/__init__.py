"""speechrnn's desktop app (PySide6).

The app only presents: capture, features, recognition, recording, training and evaluation are all
done by the :mod:`speechrnn` library, which never imports Qt. Long library operations (event
generators) run in worker threads (:mod:`gui.worker`); the live view pulls samples from the
library's ring buffer on a timer (:mod:`gui.panels.listen`).

Start it with ``speechrnn-gui`` or ``python -m gui``.
"""
