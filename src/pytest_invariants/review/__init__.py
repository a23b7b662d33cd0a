"""Pull-request review: compare revisions, read git, fingerprint and mark reviewed."""
