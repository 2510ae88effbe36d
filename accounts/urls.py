from django.urls import path

from accounts import views

urlpatterns = [
    path("invite/<str:token>/", views.invite, name="invite"),
]
