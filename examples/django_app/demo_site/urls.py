from __future__ import annotations

from django.urls import path
from shop import views

urlpatterns = [
    path("checkout/", views.checkout),
    path("new-checkout/", views.new_checkout_enabled),
    path("boom/", views.boom),
]
