from django.contrib import admin
from django.urls import path

from courrier.django.views import sns_feedback, unsubscribe

urlpatterns = [
    path("admin/", admin.site.urls),
    path("ses/feedback/", sns_feedback),
    path("unsubscribe/<str:token>", unsubscribe),
]
