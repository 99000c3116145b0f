"""The RIME-compatible REST API (`/v1`, what rime-sdk 2.13.2 calls) and rime_web's own additions (`/api/v1`)."""
