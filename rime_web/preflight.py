"""`python -m rime_web.preflight web`: the start-up refusal of rime_web/checks.py, run by `deploy/run web` before
gunicorn, so a misconfigured web process exits once with a clean message instead of a traceback per gunicorn worker.
Also refuses cleanly when the settings themselves cannot load (e.g. DJANGO_SECRET_KEY unset)."""
from __future__ import annotations

import os
import sys


def main(argv: list[str]) -> None:
    process = {"web": "web process"}.get(argv[0] if argv else "web", argv[0] if argv else "web process")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rime_web.settings")
    import django
    from django.core.exceptions import ImproperlyConfigured

    try:
        django.setup()
    except ImproperlyConfigured as error:
        print(f"ERROR: The {process} refuses to start: {error}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None
    from rime_web.checks import exit_if_refused

    exit_if_refused(process)


if __name__ == "__main__":
    main(sys.argv[1:])
