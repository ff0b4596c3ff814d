from django.urls import path

from charters import apis

urlpatterns = [
    path("assets", apis.AssetListApi.as_view(), name="asset-list"),
    path("assets/register", apis.AssetRegisterApi.as_view(), name="asset-register"),
    path("assets/<int:pk>", apis.AssetDetailApi.as_view(), name="asset-detail"),
    path("assets/<int:pk>/versions/register", apis.AssetVersionRegisterApi.as_view(), name="asset-version-register"),
    path("charters", apis.CharterListApi.as_view(), name="charter-list"),
    path("charters/schema", apis.CharterSchemaApi.as_view(), name="charter-schema"),
    path("charters/write", apis.CharterWriteApi.as_view(), name="charter-write"),
    path("charters/<slug:slug>/versions/<int:number>", apis.CharterVersionApi.as_view(), name="charter-version"),
    path("charters/<slug:slug>/acknowledge", apis.CharterAcknowledgeApi.as_view(), name="charter-acknowledge"),
    # Each step is checked by its view: an unknown one is a 404.
    path(
        "charters/<slug:slug>/versions/<int:number>/<str:step>",
        apis.CharterVersionStepApi.as_view(),
        name="charter-version-step",
    ),
    path("charters/<slug:slug>/<str:step>", apis.CharterStepApi.as_view(), name="charter-step"),
]
