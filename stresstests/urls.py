from django.urls import path

from . import views

app_name = "stresstests"

urlpatterns = [
    path("projects/<uuid:project_id>/stress-tests/", views.run_list, name="run_list"),
    path("stress-tests/<uuid:run_id>/", views.run_detail, name="run_detail"),
]
