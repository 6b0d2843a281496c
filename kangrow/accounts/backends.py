"""Email + password authentication; refuses banned, blocked and soft-deleted users."""

from django.contrib.auth.backends import ModelBackend

from .models import User


class EmailPasswordBackend(ModelBackend):
    def authenticate(self, request, email=None, password=None, **kwargs):  # type: ignore[no-untyped-def,override]
        email = email or kwargs.get("username")
        if not email or not password:
            return None
        try:
            user = User.objects.get(email=email.strip())
        except User.DoesNotExist:
            User().set_password(password)  # same work as a real check: no timing oracle
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None

    def get_user(self, user_id):  # type: ignore[no-untyped-def]
        user = User.objects.filter(pk=user_id).first()
        return user if user and self.user_can_authenticate(user) else None
