from django.urls import path

from charters import apis

urlpatterns = [
    path("assets", apis.AssetListApi.as_view(), name="asset-list"),
    path("assets/register", apis.AssetRegisterApi.as_view(), name="asset-register"),
    path("assets/<int:pk>", apis.AssetDetailApi.as_view(), name="asset-detail"),
    path("assets/<int:pk>/versions/register", apis.AssetVersionRegisterApi.as_view(), name="asset-version-register"),
]
