"""Proof by targeted mutation: make mutants, run the linked tests against each."""
