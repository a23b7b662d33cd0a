"""Built-in detectors for third-party test doubles (see docs/plugins.md)."""
