"""Synthesizable RTL of the cores (Amaranth HDL), its export, checks and synthesis."""
