from django.urls import path

from accounts import views

app_name = "accounts"

urlpatterns = [
    path("tokens/", views.token_list, name="tokens"),
    path("tokens/<int:pk>/revoke/", views.token_revoke, name="token-revoke"),
    path("verify/", views.verify, name="verify"),
    path("enrol/", views.enrol, name="enrol"),
    path("enrol/authenticator.svg", views.totp_qr, name="totp-qr"),
    path("recovery-codes/", views.recovery_codes, name="recovery-codes"),
    path("security/", views.security, name="security"),
    path("security/factors/remove/", views.factor_remove, name="factor-remove"),
    path("security/sessions/<str:handle>/end/", views.session_end, name="session-end"),
    path("people/", views.people, name="people"),
    path("people/unlock/", views.login_unlock, name="login-unlock"),
    path("people/<str:username>/reset-factors/", views.person_factors_reset, name="factors-reset"),
    path("people/<str:username>/deactivate/", views.person_deactivate, name="person-deactivate"),
]
