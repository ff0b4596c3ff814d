from django.urls import path

from charters import charter_views, views

app_name = "charters"

urlpatterns = [
    path("assets/new/", views.asset_register, name="asset-register"),
    path("assets/<int:pk>/", views.asset_detail, name="asset-detail"),
    path("assets/<int:pk>/versions/new/", views.asset_version_register, name="asset-version-register"),
    path("charters/", charter_views.charter_list, name="charter-list"),
    path("charters/new/", charter_views.charter_new, name="charter-new"),
    path("charters/<slug:slug>/", charter_views.charter_detail, name="charter-detail"),
    path("charters/<slug:slug>/diff/", charter_views.version_diff, name="version-diff"),
    path("charters/<slug:slug>/accept/", charter_views.acknowledge, name="acknowledge"),
    path("charters/<slug:slug>/v<int:number>/", charter_views.version_detail, name="version-detail"),
    path("charters/<slug:slug>/v<int:number>/edit/", charter_views.version_edit, name="version-edit"),
    path(
        "charters/<slug:slug>/v<int:number>/<str:transition>/",
        charter_views.version_transition,
        name="version-transition",
    ),
    path("charters/<slug:slug>/<str:transition>/", charter_views.charter_transition, name="charter-transition"),
]
