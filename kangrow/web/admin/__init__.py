"""The staff site at /admin/: Django's admin behind KanGrow's log-in and a TOTP second factor.

Kept import-light: `apps.KanGrowAdminConfig` is loaded from INSTALLED_APPS before models exist.
"""
