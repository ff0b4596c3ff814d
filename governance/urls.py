from django.urls import path

from governance import views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("grants/", views.grant_list, name="grant-list"),
    path("grants/request/", views.grant_request, name="grant-request"),
    path("grants/<int:pk>/<str:transition>/", views.grant_transition, name="grant-transition"),
    path("governance/charters/<slug:slug>/terminate/", views.charter_terminate, name="charter-terminate"),
    path("governance/bundles/", views.bundle_list, name="bundle-list"),
    path("governance/reviews/", views.review_list, name="review-list"),
    path("governance/reviews/<int:pk>/", views.review_detail, name="review-detail"),
    path("governance/reviews/<int:pk>/report.csv", views.review_report, name="review-report"),
    path("governance/what-if/", views.whatif_list, name="whatif-list"),
    path("governance/what-if/<int:pk>/", views.whatif_detail, name="whatif-detail"),
    path("governance/decisions/explain/", views.decision_explain, name="decision-explain"),
    path("governance/bundles/diff/", views.bundle_diff, name="bundle-diff"),
    path("governance/bundles/<str:ref>/", views.bundle_detail, name="bundle-detail"),
    path("governance/bundles/<str:ref>/rollback/", views.bundle_rollback, name="bundle-rollback"),
]
