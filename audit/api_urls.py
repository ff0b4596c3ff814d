from django.urls import path

from audit import apis

urlpatterns = [
    path("audit/public-key", apis.PublicKeyApi.as_view(), name="audit-public-key"),
    path("audit/events", apis.EventListApi.as_view(), name="audit-events"),
    path("audit/exports", apis.ExportCreateApi.as_view(), name="audit-export"),
    path("audit/exports/<uuid:pk>", apis.ExportStatusApi.as_view(), name="audit-export-status"),
    path("audit/exports/<uuid:pk>/<str:part>", apis.ExportDownloadApi.as_view(), name="audit-export-download"),
]
