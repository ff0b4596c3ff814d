from django.urls import path

from charters import views

app_name = "charters"

urlpatterns = [
    path("assets/new/", views.asset_register, name="asset-register"),
    path("assets/<int:pk>/", views.asset_detail, name="asset-detail"),
    path("assets/<int:pk>/versions/new/", views.asset_version_register, name="asset-version-register"),
]
