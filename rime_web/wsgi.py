import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rime_web.settings")
application = get_wsgi_application()

from rime_web.checks import refuse_unsafe_layout  # noqa: E402 - needs the apps loaded

refuse_unsafe_layout("web process")
