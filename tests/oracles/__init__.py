"""Test-side oracles written from external references (not from dualopu's own code)."""
