from django.urls import path

from accounts import proposal_views

app_name = "proposals"

urlpatterns = [
    path("", proposal_views.proposal_list, name="proposal-list"),
    path("<int:pk>/", proposal_views.proposal_detail, name="proposal-detail"),
    path("<int:pk>/confirm/", proposal_views.proposal_confirm, name="proposal-confirm"),
    path("<int:pk>/withdraw/", proposal_views.proposal_withdraw, name="proposal-withdraw"),
]
