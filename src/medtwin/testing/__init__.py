"""Helpers for tests, benchmarks and soak scripts that need real services of their own."""
