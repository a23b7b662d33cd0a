"""The pytest side: hooks, claims, the per-test observer and the run collector."""
