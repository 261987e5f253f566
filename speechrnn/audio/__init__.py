"""Audio input/output without Qt: files (``io``) and microphones (``capture``)."""
