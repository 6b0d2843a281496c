import uuid

import pytest
from django.db import IntegrityError

from kangrow.accounts.models import User


@pytest.mark.django_db
def test_user_ids_are_uuidv7_generated_by_the_application():
    user = User.objects.create_user("a@example.com", "a long enough password")
    assert isinstance(user.id, uuid.UUID)
    assert user.id.version == 7


@pytest.mark.django_db
def test_email_is_unique_case_insensitively():
    User.objects.create_user("Jane@Example.com", "a long enough password")
    assert User.objects.get(email="jane@example.COM").email == "Jane@example.com"
    with pytest.raises(IntegrityError):
        User.objects.create_user("JANE@example.com", "a long enough password")


@pytest.mark.django_db
def test_banned_blocked_and_deleted_users_are_inactive():
    user = User.objects.create_user("b@example.com", "a long enough password")
    assert user.is_active
    for field, value in [("banned", True), ("blocked", True)]:
        setattr(user, field, value)
        assert not user.is_active
        setattr(user, field, False)
