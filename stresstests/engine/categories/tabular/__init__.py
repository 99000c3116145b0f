"""Tabular versions of the test categories, with the helpers they share (distribution statistics, data impact,
model probing)."""
