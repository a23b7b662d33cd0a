"""Stage 1, load: find, read and validate the invariants files; resolve scopes statically."""
