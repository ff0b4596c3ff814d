from django.urls import path

from governance import apis, exit_apis

urlpatterns = [
    path("decisions", apis.DecisionApi.as_view(), name="decide"),
    path("decisions/batch", apis.DecisionBatchApi.as_view(), name="decide-batch"),
    path("sessions", apis.SessionOpenApi.as_view(), name="session-open"),
    path("grants", apis.GrantListApi.as_view(), name="grant-list"),
    path("grants/request", apis.GrantRequestApi.as_view(), name="grant-request"),
    path("roles", apis.PartnerRoleListApi.as_view(), name="role-list"),
    path("roles/create", apis.PartnerRoleCreateApi.as_view(), name="role-create"),
    path("roles/<slug:slug>/members", apis.PartnerRoleMemberApi.as_view(), name="role-members"),
    path("policy/bundles", apis.BundleListApi.as_view(), name="bundle-list"),
    path("policy/bundles/diff", apis.BundleDiffApi.as_view(), name="bundle-diff"),
    path("policy/bundles/<str:ref>", apis.BundleDetailApi.as_view(), name="bundle-detail"),
    path("policy/bundles/<str:ref>/rollback", apis.BundleRollbackApi.as_view(), name="bundle-rollback"),
    path("exits", exit_apis.ExitListApi.as_view(), name="exit-list"),
    path("exits/<int:pk>", exit_apis.ExitDetailApi.as_view(), name="exit-detail"),
    path("exits/<int:pk>/report", exit_apis.ExitReportApi.as_view(), name="exit-report"),
    path("exits/<int:pk>/attestation", exit_apis.ExitAttestationApi.as_view(), name="exit-attest"),
    path("certificates/<str:number>", exit_apis.CertificateApi.as_view(), name="certificate"),
]
