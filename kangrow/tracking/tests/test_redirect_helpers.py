"""What keeps /r/<token> cheap gives what it gave before: the in-process link memory (short,
dropped at once in the process that changes a link), the landing URL built from a cached split,
and the IP hash with its salt worked out once."""

import hashlib
import hmac
from datetime import timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
from django.core.cache import cache
from hypothesis import given
from hypothesis import strategies as st

from kangrow.programs import api as programs
from kangrow.tracking import api


def test_a_link_is_remembered_in_process_for_a_short_time(enrollment, monkeypatch):
    api.record_click(token=enrollment.token)
    # another process's change: the database and the shared cache change, this memory does not
    programs.Enrollment.objects.filter(id=enrollment.id).update(status="left")
    cache.clear()
    assert programs.resolve_link(token=enrollment.token).live
    # until the memory expires
    now = programs.time.monotonic()
    monkeypatch.setattr(programs.time, "monotonic", lambda: now + programs.LINK_LOCAL_SECONDS + 1)
    assert not programs.resolve_link(token=enrollment.token).live


def test_leaving_forgets_the_link_in_this_process_at_once(enrollment):
    assert programs.resolve_link(token=enrollment.token).live
    programs.leave_campaign(affiliate_id=enrollment.affiliate_id, campaign_slug="launch")
    assert not programs.resolve_link(token=enrollment.token).live


def test_a_remembered_link_still_follows_its_campaign_dates(enrollment, time_machine):
    start = programs.timezone.now()
    programs.Campaign.objects.filter(id=enrollment.campaign_id).update(
        starts_at=start + timedelta(hours=1), ends_at=start + timedelta(hours=3)
    )
    cache.clear()
    programs.forget_local_links()
    time_machine.move_to(start, tick=False)
    assert not programs.resolve_link(token=enrollment.token).live  # not started yet
    time_machine.move_to(start + timedelta(hours=2), tick=False)
    assert programs.resolve_link(token=enrollment.token).live  # the same memory, now live
    time_machine.move_to(start + timedelta(hours=3), tick=False)
    assert not programs.resolve_link(token=enrollment.token).live  # ended


def _old_with_ref(url, token, extra=None):
    """The URL building before the cached split, kept as the reference."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "ref"]
    present = {k for k, _ in query}
    for key, value in (extra or {}).items():
        if key not in present and value:
            query.append((key, value))
    query.append(("ref", token))
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", urlencode(query), ""))


_text = st.text(st.characters(blacklist_categories=["Cs"]), max_size=12)


@given(
    path=st.sampled_from(["", "/", "/start", "/a b/ü", "/x;y"]),
    query=st.lists(st.tuples(st.sampled_from(["plan", "ref", "utm_source", "a b", "é"]), _text)),
    fragment=st.sampled_from(["", "#top"]),
    utm=st.dictionaries(st.sampled_from(["utm_source", "utm_medium", "utm_term"]), _text),
    token=st.from_regex(r"[A-Za-z0-9_-]{8,32}", fullmatch=True),
)
def test_the_landing_url_is_built_as_before(path, query, fragment, utm, token):
    url = "https://app.example" + path + ("?" + urlencode(query) if query else "") + fragment
    assert api.with_ref(url, token, utm) == _old_with_ref(url, token, utm)


@given(ip=st.text(max_size=40), salt=st.sampled_from(["", "another-secret-salt"]))
def test_the_ip_hash_is_the_same_hmac_as_before(ip, salt):
    from django.conf import settings

    key = (
        salt
        or hmac.new(
            settings.SECRET_KEY.encode(), b"kangrow.tracking.ip-hash", hashlib.sha256
        ).hexdigest()
    )
    expected = hmac.new(key.encode(), ip.encode(), hashlib.sha256).hexdigest() if ip else ""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(settings, "KANGROW_IP_HASH_SALT", salt)
        assert api.hash_ip(ip) == expected
