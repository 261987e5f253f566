"""Datasets in Speech Commands layout: scanning and splits (``layout``), what a run uses
(``spec``), decoding once into a cache (``cache``), batch augmentation (``augment``) and the
Speech Commands downloader (``download``). Import from the submodules."""
