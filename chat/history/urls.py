from django.urls import path

from chat.history import views

app_name = "history"
urlpatterns = [
    path("", views.index, name="index"),
    path("export.zip", views.export_all, name="export_all"),
    path("import/", views.import_json, name="import"),
    path("c/<int:conversation_id>/rename/", views.rename, name="rename"),
    path("c/<int:conversation_id>/archive/", views.archive, name="archive"),
    path("c/<int:conversation_id>/export.<str:kind>", views.export_one, name="export"),
    path("c/<int:conversation_id>/review/", views.review, name="review"),
    # Last: the authorisation matrix walks routes in order with one conversation.
    path("c/<int:conversation_id>/delete/", views.delete, name="delete"),
]
