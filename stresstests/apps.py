from django.apps import AppConfig


class StresstestsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "stresstests"
    verbose_name = "Stress testing"
