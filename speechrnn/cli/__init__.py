"""The ``speechrnn`` command: thin subcommands over the library (Mycroft Precise style)."""
