from django.apps import AppConfig


class RimeWebConfig(AppConfig):
    name = "rime_web"
    verbose_name = "rime_web"

    def ready(self) -> None:
        from . import checks  # noqa: F401 - registers the deployment checks
