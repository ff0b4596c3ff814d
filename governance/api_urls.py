from django.urls import path

from governance.attestation import apis as attestation_apis
from governance.decisions import apis as decision_apis
from governance.exits import apis as exit_apis
from governance.grants import apis as grant_apis
from governance.incidents import apis as incident_apis
from governance.policy import apis as policy_apis
from governance.reviews import apis as review_apis
from governance.usage import apis as usage_apis
from governance.vault import apis as vault_apis

urlpatterns = [
    path("decisions", decision_apis.DecisionApi.as_view(), name="decide"),
    path("decisions/batch", decision_apis.DecisionBatchApi.as_view(), name="decide-batch"),
    path("sessions", decision_apis.SessionOpenApi.as_view(), name="session-open"),
    path("attestation/nonce", attestation_apis.AttestationNonceApi.as_view(), name="attestation-nonce"),
    path("key-release", attestation_apis.KeyReleaseApi.as_view(), name="key-release"),
    path("artefacts/<str:uid>/ciphertext", attestation_apis.CiphertextApi.as_view(), name="artefact-ciphertext"),
    path("grants", grant_apis.GrantListApi.as_view(), name="grant-list"),
    path("grants/request", grant_apis.GrantRequestApi.as_view(), name="grant-request"),
    path("grants/<int:pk>/<str:step>", grant_apis.GrantTransitionApi.as_view(), name="grant-transition"),
    path("usage", usage_apis.UsageApi.as_view(), name="usage"),
    path("usage/quotas", usage_apis.QuotaListApi.as_view(), name="usage-quotas"),
    path("roles", grant_apis.PartnerRoleListApi.as_view(), name="role-list"),
    path("roles/create", grant_apis.PartnerRoleCreateApi.as_view(), name="role-create"),
    path("roles/<slug:slug>/members", grant_apis.PartnerRoleMemberApi.as_view(), name="role-members"),
    path("policy/bundles", policy_apis.BundleListApi.as_view(), name="bundle-list"),
    path("policy/bundles/diff", policy_apis.BundleDiffApi.as_view(), name="bundle-diff"),
    path("policy/bundles/<str:ref>", policy_apis.BundleDetailApi.as_view(), name="bundle-detail"),
    path("policy/bundles/<str:ref>/rollback", policy_apis.BundleRollbackApi.as_view(), name="bundle-rollback"),
    path("reviews", review_apis.ReviewListApi.as_view(), name="review-list"),
    path("reviews/start", review_apis.ReviewStartApi.as_view(), name="review-start"),
    path("reviews/<int:pk>", review_apis.ReviewDetailApi.as_view(), name="review-detail"),
    path("reviews/<int:pk>/answer", review_apis.ReviewAnswerApi.as_view(), name="review-answer"),
    path("reviews/<int:pk>/close", review_apis.ReviewCloseApi.as_view(), name="review-close"),
    path("incidents", incident_apis.IncidentListApi.as_view(), name="incident-list"),
    path("incidents/declare", incident_apis.IncidentDeclareApi.as_view(), name="incident-declare"),
    path("incidents/<int:pk>", incident_apis.IncidentDetailApi.as_view(), name="incident-detail"),
    path(
        "incidents/<int:pk>/steps/<int:position>/done",
        incident_apis.IncidentStepDoneApi.as_view(),
        name="incident-step-done",
    ),
    path("incidents/<int:pk>/close", incident_apis.IncidentCloseApi.as_view(), name="incident-close"),
    path("exits", exit_apis.ExitListApi.as_view(), name="exit-list"),
    path("exits/<int:pk>", exit_apis.ExitDetailApi.as_view(), name="exit-detail"),
    path("exits/<int:pk>/report", exit_apis.ExitReportApi.as_view(), name="exit-report"),
    path("exits/<int:pk>/attestation", exit_apis.ExitAttestationApi.as_view(), name="exit-attest"),
    path("exits/<int:pk>/items/<int:item>/migrated", exit_apis.ExitItemMigratedApi.as_view(), name="exit-migrated"),
    path("certificates/<str:number>", exit_apis.CertificateApi.as_view(), name="certificate"),
    path("keys/<str:key_id>/destroy", vault_apis.KeyDestroyApi.as_view(), name="key-destroy"),
    path("keys/<str:key_id>/cancel", exit_apis.KeyCancelApi.as_view(), name="key-cancel"),
]
