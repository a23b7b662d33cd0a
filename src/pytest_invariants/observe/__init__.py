"""Stage 2, observe: per test, the scope lines executed and the test doubles active."""
