"""Tabular versions of the test categories (one module per category), and three helpers they share:
`distribution_stats` (drift statistics), `data_impact` (what a data problem costs the model) and `model_probe`
(scoring perturbed rows)."""
