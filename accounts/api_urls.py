from django.urls import path

from accounts import apis

urlpatterns = [
    path("me", apis.MeApi.as_view(), name="me"),
    path("partners", apis.PartnerListApi.as_view(), name="partner-list"),
    path("tokens", apis.ApiTokenListApi.as_view(), name="token-list"),
    path("tokens/issue", apis.ApiTokenIssueApi.as_view(), name="token-issue"),
    path("tokens/<int:pk>/revoke", apis.ApiTokenRevokeApi.as_view(), name="token-revoke"),
    path("people/unlock", apis.LoginUnlockApi.as_view(), name="login-unlock"),
    path("people/<str:username>/deactivate", apis.PersonDeactivateApi.as_view(), name="person-deactivate"),
    path("principals", apis.PrincipalListApi.as_view(), name="principal-list"),
    path("principals/create", apis.PrincipalCreateApi.as_view(), name="principal-create"),
    path("principals/<str:username>/disable", apis.PrincipalDisableApi.as_view(), name="principal-disable"),
    path("proposals", apis.ProposalListApi.as_view(), name="proposal-list"),
    path("proposals/create", apis.ProposalCreateApi.as_view(), name="proposal-create"),
    path("proposals/<int:pk>", apis.ProposalDetailApi.as_view(), name="proposal-detail"),
    path("proposals/<int:pk>/confirm", apis.ProposalConfirmApi.as_view(), name="proposal-confirm"),
    path("proposals/<int:pk>/withdraw", apis.ProposalWithdrawApi.as_view(), name="proposal-withdraw"),
]
