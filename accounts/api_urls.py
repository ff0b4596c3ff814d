from django.urls import path

from accounts import apis

urlpatterns = [
    path("me", apis.MeApi.as_view(), name="me"),
    path("partners", apis.PartnerListApi.as_view(), name="partner-list"),
    path("tokens", apis.ApiTokenListApi.as_view(), name="token-list"),
    path("tokens/issue", apis.ApiTokenIssueApi.as_view(), name="token-issue"),
    path("tokens/<int:pk>/revoke", apis.ApiTokenRevokeApi.as_view(), name="token-revoke"),
]
