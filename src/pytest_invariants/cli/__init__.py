"""The `invariants` command: one `main`, one error class, exit codes from `exitcodes`."""
