from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from projects import views as project_views
from rime_web.auth import LoginView, RateLimitedAdminAuthenticationForm

admin.site.login_form = RateLimitedAdminAuthenticationForm
admin.site.site_header = "rime_web administration"
admin.site.site_title = "rime_web admin"

urlpatterns = [
    path("", project_views.home, name="home"),
    path("accounts/login/", LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("", include("rime_web.api_urls")),
    path("", include("projects.urls")),
    path("", include("stresstests.urls")),
    path("", include("stresstests.results.urls")),
]
