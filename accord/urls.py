from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from accounts.views import LoginView, LogoutView

handler400 = "accord.api_errors.bad_request"
handler404 = "accord.api_errors.page_not_found"
handler500 = "accord.api_errors.server_error"

api_v1 = [
    path("", include("accounts.api_urls")),
    path("", include("charters.api_urls")),
    path("", include("governance.api_urls")),
    path("", include("audit.api_urls")),
]

urlpatterns = [
    path("", include("governance.urls")),
    path("login/", LoginView.as_view(), name="login"),
    path("logout/", LogoutView.as_view(), name="logout"),
    path("account/", include("accounts.urls")),
    path("account/webauthn/", include("accounts.webauthn")),
    path("proposals/", include("accounts.proposal_urls")),
    path("registry/", include("charters.urls")),
    path("trail/", include("audit.urls")),
    path("api/v1/", include((api_v1, "api"), namespace="api")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves its script as a file of its own: the page has no inline script for the CSP to refuse.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    # The admin is reached through Accord's login, second factor and lockout, never a login of its own.
    path("admin/login/", RedirectView.as_view(pattern_name="login", query_string=True), name="admin-login"),
    path("admin/", admin.site.urls),
]
