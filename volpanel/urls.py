"""Every route, named."""

from django.contrib import admin
from django.urls import path

from volpanel import health
from volpanel.accounts import views as accounts
from volpanel.audit import views as audit
from volpanel.volumes import admin_streams, admin_views, streams
from volpanel.volumes import views as volumes

urlpatterns = [
    path("", accounts.home, name="home"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("login/", accounts.login_view, name="login"),
    path("logout/", accounts.logout_view, name="logout"),
    path("project/", accounts.switch_project, name="switch_project"),
    path("volumes/", volumes.volume_list, name="volume_list"),
    path("volumes/<uuid:volume_id>/", volumes.volume_detail, name="volume_detail"),
    path("volumes/<uuid:volume_id>/stream/", streams.volume_stream, name="volume_stream"),
    path("volumes/<uuid:volume_id>/<slug:action>/", volumes.volume_action, name="volume_action"),
    # Admins only (issue 16): any project's volume, and its repair actions.
    path("manage/volumes/", admin_views.admin_volume_list, name="admin_volume_list"),
    path("manage/volumes/<uuid:volume_id>/", admin_views.admin_volume, name="admin_volume"),
    path("manage/volumes/<uuid:volume_id>/stream/", admin_streams.admin_volume_stream, name="admin_volume_stream"),
    path("manage/volumes/<uuid:volume_id>/<slug:action>/", admin_views.admin_volume_action,
         name="admin_volume_action"),
    path("audit/", audit.audit_list, name="audit_list"),
    path("audit/chart/", audit.audit_chart, name="audit_chart"),
    path("audit/export/<slug:fmt>/", audit.audit_export, name="audit_export"),
    path("audit/<uuid:entry_uuid>/", audit.audit_detail, name="audit_detail"),
    # Before the admin's own routes: its login behind the main login's throttle.
    path("django-admin/login/", accounts.admin_login, name="admin_login"),
    path("django-admin/", admin.site.urls),
]

# A database that is locked or down answers 503 "try again" (errors.server_error), not a bare 500.
handler500 = "volpanel.errors.server_error"
