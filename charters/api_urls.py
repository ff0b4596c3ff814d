from django.urls import path

from charters import apis

urlpatterns = [
    path("assets", apis.AssetListApi.as_view(), name="asset-list"),
    path("assets/register", apis.AssetRegisterApi.as_view(), name="asset-register"),
    path("assets/<int:pk>", apis.AssetDetailApi.as_view(), name="asset-detail"),
    path("assets/<int:pk>/versions/register", apis.AssetVersionRegisterApi.as_view(), name="asset-version-register"),
    path("charters", apis.CharterListApi.as_view(), name="charter-list"),
    path("charters/schema", apis.CharterSchemaApi.as_view(), name="charter-schema"),
    path("charters/<slug:slug>/versions/<int:number>", apis.CharterVersionApi.as_view(), name="charter-version"),
    path("charters/<slug:slug>/acknowledge", apis.CharterAcknowledgeApi.as_view(), name="charter-acknowledge"),
]
