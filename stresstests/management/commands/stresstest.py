"""`python manage.py stresstest`: the engine's CLI (stresstests.engine.cli) as a Django management command."""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand

from stresstests.engine import cli


class Command(BaseCommand):
    help = "Stress-test a model on reference and evaluation data and write a JSON report."

    def add_arguments(self, parser) -> None:
        cli.add_arguments(parser)

    def handle(self, *args, **options) -> None:
        status = cli.execute(options, stdout=self.stdout, stderr=self.stderr)
        if status:
            sys.exit(status)
