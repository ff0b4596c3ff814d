from django.urls import path

from audit import views

app_name = "audit"

urlpatterns = [
    path("", views.trail, name="trail"),
    path("exports/", views.export_create, name="export-create"),
    path("exports/<uuid:pk>/<str:part>/", views.export_download, name="export-download"),
]
