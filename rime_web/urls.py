from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.templatetags.static import static
from django.views.generic import RedirectView
from django.urls import include, path

from projects import views as project_views
from rime_web.auth import LoginView, RateLimitedAdminAuthenticationForm

admin.site.login_form = RateLimitedAdminAuthenticationForm
admin.site.site_header = "rime_web administration"
admin.site.site_title = "rime_web admin"

urlpatterns = [
    path("", project_views.home, name="home"),
    # Browsers and crawlers ask for /favicon.ico whatever the page links; send them to the static file.
    path("favicon.ico", RedirectView.as_view(url=static("favicon.ico"), permanent=True)),
    path("accounts/login/", LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("", include("rime_web.api_urls")),
    path("", include("projects.urls")),
    path("", include("stresstests.urls")),
    path("", include("stresstests.results.urls")),
]
