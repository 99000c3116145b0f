"""RIME-compatible stress-test, job and result endpoints; see projects/api for the shared wire helpers."""
