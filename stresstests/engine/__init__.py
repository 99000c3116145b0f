"""The stress-testing engine: a pure library (no Django) used by the worker, the CLI and notebooks.

Entry point: `stresstests.engine.runner.run_stress_test`; see docs/report-schema.md for its report.
"""
