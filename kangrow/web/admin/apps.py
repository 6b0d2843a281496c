"""Makes `KanGrowAdminSite` Django's default admin site (`django.contrib.admin.site`).

With this config in INSTALLED_APPS instead of "django.contrib.admin", every
`@admin.register(Model)` (ours and third-party ones such as django-otp's TOTPDevice admin) lands
on the secured site, and contexts never have to import the web layer to register a ModelAdmin.
"""

from django.contrib.admin.apps import AdminConfig


class KanGrowAdminConfig(AdminConfig):
    default_site = "kangrow.web.admin.site.KanGrowAdminSite"
