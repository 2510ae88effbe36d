from django.conf import settings
from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("accounts.urls")),
    path("", include("chat.urls")),
]

if settings.OIDC_ENABLED:
    # Single sign-on (django-allauth); the callback is /accounts/oidc/sso/login/callback/.
    urlpatterns.insert(0, path("accounts/oidc/", include("allauth.urls")))
