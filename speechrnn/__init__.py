"""speechrnn: speech-command recognition with recurrent neural networks.

The library never imports Qt; the desktop app lives in the separate ``gui`` package.
"""

__version__ = "0.1.0"
