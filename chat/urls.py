from django.urls import include, path

from chat import health, images, views
from chat.conversation_settings import views as settings_views
from chat.tools import choice
from chat.usage import views as usage_views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("usage/", usage_views.my_usage, name="my_usage"),
    path("c/new/", views.new_conversation, name="new_conversation"),
    path("c/<int:conversation_id>/", views.conversation, name="conversation"),
    path("c/<int:conversation_id>/share/", views.share_conversation, name="share_conversation"),
    path("images/<int:image_id>", images.generated_image, name="generated_image"),
    path("c/<int:conversation_id>/tools/", choice.conversation_tools, name="conversation_tools"),
    path(
        "c/<int:conversation_id>/settings/",
        settings_views.conversation_settings,
        name="conversation_settings",
    ),
    path("history/", include("chat.history.urls")),
]
