from django.urls import path

from governance.attestation import views as measurement_views
from governance.exits import views as exit_views
from governance.grants import views as grant_views
from governance.incidents import views as incident_views
from governance.ops import views as ops_views
from governance.policy import views as policy_views
from governance.portal import views as portal_views
from governance.reviews import views as review_views
from governance.usage import views as usage_views
from governance.vault import views as vault_views
from governance.whatif import views as whatif_views

urlpatterns = [
    path("", ops_views.home, name="home"),
    path("healthz", ops_views.healthz, name="healthz"),
    path("governance/usage/", usage_views.usage_page, name="usage"),
    path("governance/timeliness/", ops_views.timeliness_page, name="timeliness"),
    path("portal/", portal_views.portal_home, name="portal"),
    path("portal/incidents/", portal_views.portal_incidents, name="portal-incidents"),
    path(
        "portal/incidents/<int:pk>/steps/<int:position>/answer/",
        portal_views.portal_step_answer,
        name="portal-step-answer",
    ),
    path("portal/principals/", portal_views.portal_principals, name="portal-principals"),
    path("portal/principals/add/", portal_views.portal_principal_create, name="portal-principal-create"),
    path(
        "portal/principals/<str:username>/disable/",
        portal_views.portal_principal_disable,
        name="portal-principal-disable",
    ),
    path("portal/trail/", portal_views.portal_trail, name="portal-trail"),
    path("portal/trail/export/", portal_views.portal_trail_export, name="portal-trail-export"),
    path("grants/", grant_views.grant_list, name="grant-list"),
    path("grants/request/", grant_views.grant_request, name="grant-request"),
    path("grants/<int:pk>/<str:transition>/", grant_views.grant_transition, name="grant-transition"),
    path("governance/charters/<slug:slug>/terminate/", grant_views.charter_terminate, name="charter-terminate"),
    path("governance/bundles/", policy_views.bundle_list, name="bundle-list"),
    path("governance/reviews/", review_views.review_list, name="review-list"),
    path("governance/reviews/<int:pk>/", review_views.review_detail, name="review-detail"),
    path("governance/reviews/<int:pk>/close/", review_views.review_close, name="review-close"),
    path("governance/reviews/<int:pk>/report.csv", review_views.review_report, name="review-report"),
    path("governance/what-if/", whatif_views.whatif_list, name="whatif-list"),
    path("governance/what-if/<int:pk>/", whatif_views.whatif_detail, name="whatif-detail"),
    path("governance/decisions/explain/", policy_views.decision_explain, name="decision-explain"),
    path("governance/bundles/diff/", policy_views.bundle_diff, name="bundle-diff"),
    path("governance/bundles/<str:ref>/", policy_views.bundle_detail, name="bundle-detail"),
    path("governance/bundles/<str:ref>/rollback/", policy_views.bundle_rollback, name="bundle-rollback"),
    path("governance/incidents/", incident_views.incident_list, name="incident-list"),
    path("governance/incidents/<int:pk>/", incident_views.incident_detail, name="incident-detail"),
    path(
        "governance/incidents/<int:pk>/steps/<int:position>/done/",
        incident_views.incident_step_done,
        name="incident-step-done",
    ),
    path("governance/incidents/<int:pk>/close/", incident_views.incident_close, name="incident-close"),
    path("governance/charters/<slug:slug>/incidents/", incident_views.incident_declare, name="incident-declare"),
    path("governance/charters/<slug:slug>/exit/", exit_views.exit_start, name="exit-start"),
    path("governance/exits/", exit_views.exit_list, name="exit-list"),
    path("governance/exits/<int:pk>/", exit_views.exit_detail, name="exit-detail"),
    path("governance/exits/<int:pk>/report.json", exit_views.exit_report, name="exit-report"),
    path("governance/exits/<int:pk>/attest/", exit_views.exit_attest, name="exit-attest"),
    path("governance/exits/<int:pk>/items/<int:item>/migrated/", exit_views.exit_item_migrated, name="exit-migrated"),
    path("governance/keys/<str:key_id>/cancel/", exit_views.key_cancel, name="key-cancel"),
    path("governance/keys/<str:key_id>/destroy/", vault_views.key_destroy, name="key-destroy"),
    path("governance/keys/<str:key_id>/destroy-now/", vault_views.key_destroy_now, name="key-destroy-now"),
    path("governance/certificates/<str:number>/", exit_views.certificate_detail, name="certificate-detail"),
    path("governance/measurements/", measurement_views.measurement_lists, name="measurement-lists"),
    path("governance/measurements/<slug:name>/", measurement_views.measurement_list, name="measurement-list"),
    path(
        "governance/measurements/<slug:name>/entries/<int:pk>/remove/",
        measurement_views.measurement_remove,
        name="measurement-remove",
    ),
    path("governance/artefacts/", vault_views.artefact_list, name="artefact-list"),
    path("governance/artefacts/<str:uid>/", vault_views.artefact_download, name="artefact-download"),
]
