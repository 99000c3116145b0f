"""Everything that reads a finished run's report: the result pages, charts, exports, the offline HTML report and the
comparison of two runs. It renders the engine's JSON report; it never recomputes a figure."""
