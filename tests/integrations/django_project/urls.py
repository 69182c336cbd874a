from __future__ import annotations

from django.urls import path

from tests.integrations.django_project import views

urlpatterns = [
    path("ok/", views.ok),
    path("boom/", views.boom),
    path("async-ok/", views.async_ok),
    path("async-boom/", views.async_boom),
    path("missing/", views.missing),
    path("forbidden/", views.forbidden),
    path("capture/", views.capture),
    path("async-capture/", views.async_capture),
    path("health/", views.health),
]
