"""manage.py create_api_key: print a new API key once, for scripts.

manage.py create_api_key --kind app --app invoicepro --name "InvoicePro backend"
manage.py create_api_key --kind staff --scopes apps:write,campaigns:write --name "provisioning"
"""

from django.core.management.base import BaseCommand, CommandError

from kangrow.apikeys import api as apikeys_api
from kangrow.programs import api as programs_api


class Command(BaseCommand):
    help = "Create an app or staff API key and print it once (only its hash is stored)."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--kind", choices=["app", "staff"], required=True)
        parser.add_argument("--name", required=True, help="What the key is for.")
        parser.add_argument("--app", help="App keys: the app's slug.")
        parser.add_argument(
            "--scopes",
            default="",
            help="Staff keys: comma-separated, from " + ", ".join(apikeys_api.SCOPES) + ".",
        )

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        app_id = None
        if options["app"]:
            app = programs_api.get_app_by_slug(slug=options["app"])
            if app is None:
                raise CommandError(f"No app with slug {options['app']!r}.")
            app_id = app.id
        scopes = [s.strip() for s in options["scopes"].split(",") if s.strip()]
        try:
            ref, raw = apikeys_api.create_api_key(
                kind=options["kind"], name=options["name"], app_id=app_id, scopes=scopes
            )
        except apikeys_api.ApiKeyError as exc:
            raise CommandError(f"{exc.field}: {exc.message}")
        self.stderr.write(f"Created {ref.kind} key {ref.prefix}… ({ref.name}); it is shown once:")
        self.stdout.write(raw)
