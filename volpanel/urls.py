"""Every route, named."""

from django.contrib import admin
from django.urls import path

from volpanel import health, streams, views
from volpanel.audit import views as audit_views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("login/", views.login_view, name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("project/", views.switch_project, name="switch_project"),
    path("volumes/", views.volume_list, name="volume_list"),
    path("volumes/<uuid:volume_id>/", views.volume_detail, name="volume_detail"),
    path("volumes/<uuid:volume_id>/stream/", streams.volume_stream, name="volume_stream"),
    path("volumes/<uuid:volume_id>/<slug:action>/", views.volume_action, name="volume_action"),
    path("audit/", audit_views.audit_list, name="audit_list"),
    path("audit/chart/", audit_views.audit_chart, name="audit_chart"),
    path("audit/export/<slug:fmt>/", audit_views.audit_export, name="audit_export"),
    path("audit/<uuid:entry_uuid>/", audit_views.audit_detail, name="audit_detail"),
    path("django-admin/", admin.site.urls),
]

# A database that is locked or down answers 503 "try again" (views.server_error), not a bare 500.
handler500 = "volpanel.views.server_error"
