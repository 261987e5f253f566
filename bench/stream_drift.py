"""Drift check: one 8-hour stream, hit rate of its first and last hour (see bench.stream_eval)."""

from bench.stream_eval import run_drift as run

__all__ = ["run"]
