"""The registries of a project (models, datasets, predictions) and the workspace's integrations: where artifacts come
from (uploads, S3, SQL tables, model registries), how they are stored and validated, and the pages that manage them.

Other code writes through `services` and reads through `selectors` (docs/architecture.md names the few other
modules that are public, and to whom).
"""
