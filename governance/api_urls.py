from django.urls import path

from governance import apis

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
]
