"""The benchmark suite: ``python -m bench.run [--quick] [--out bench/results]``.

Each section is a function ``(ctx: BenchContext) -> dict`` in its own module; ``bench.run`` runs them
in order, records each section's numbers (or why it was skipped) in one JSON file and renders the
markdown table (``bench.report``). ``--quick`` runs every section at toy sizes on the clips shipped in
``tests/data`` -- a correctness check for CI, no timing claims.
"""
