"""Log people in for a benchmark: print signed session cookies (JSON) for the busiest and some
random generated affiliates, and for a staff member with a verified second factor.

Runs inside the benchmark's environment (same SECRET_KEY and database as its server):
    python -m bench.sessions --affiliates 40
"""

from __future__ import annotations

import argparse
import json
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")


def main() -> None:
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.sessions.backends.signed_cookies import SessionStore
    from django.db import connection
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from kangrow.accounts import api as accounts_api
    from kangrow.accounts.middleware import SESSION_KEY
    from kangrow.accounts.models import User

    parser = argparse.ArgumentParser()
    parser.add_argument("--affiliates", type=int, default=40)
    args = parser.parse_args()

    def cookie(user: User, device: TOTPDevice | None = None) -> str:
        session = SessionStore()
        session[SESSION_KEY] = accounts_api.generate_user_session_token(user=user)
        if device is not None:
            session["otp_device_id"] = device.persistent_id
        session.save()
        return f"{settings.SESSION_COOKIE_NAME}={session.session_key}"

    busiest = args.affiliates // 4
    with connection.cursor() as cur:
        cur.execute(
            "SELECT affiliate_id FROM referrals GROUP BY affiliate_id ORDER BY count(*) DESC "
            "LIMIT %s",
            [busiest],
        )
        ids = [row[0] for row in cur.fetchall()]
        cur.execute(
            "SELECT id FROM users WHERE approved_affiliate AND NOT is_staff AND NOT (id = ANY(%s)) "
            "ORDER BY md5(id::text) LIMIT %s",
            [ids, args.affiliates - len(ids)],
        )
        ids += [row[0] for row in cur.fetchall()]
    users = User.objects.in_bulk(ids)
    affiliates = [cookie(users[i]) for i in ids]  # the busiest first
    staff, _ = User.objects.get_or_create(
        email="bench-staff@bench.kangrow.test",
        defaults={"is_staff": True, "is_superuser": True, "email_verified": True,
                  "verified": True},
    )  # fmt: skip
    device, _ = TOTPDevice.objects.get_or_create(
        user=staff, name="bench", defaults={"confirmed": True}
    )
    print(
        json.dumps({"affiliates": affiliates, "busiest": busiest, "staff": cookie(staff, device)})
    )


if __name__ == "__main__":
    main()
