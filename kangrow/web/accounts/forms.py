"""Forms of the account pages: they parse and label input; rules live in accounts.api."""

from django import forms

from kangrow.core.text import reject_nul


def _email(label: str = "Email") -> forms.EmailField:
    return forms.EmailField(
        label=label,
        max_length=160,
        validators=[reject_nul],
        widget=forms.EmailInput(attrs={"autocomplete": "email", "spellcheck": "false"}),
    )


def _password(label: str, autocomplete: str, help_text: str = "") -> forms.CharField:
    return forms.CharField(
        label=label,
        strip=False,
        max_length=200,
        validators=[reject_nul],
        help_text=help_text,
        widget=forms.PasswordInput(attrs={"autocomplete": autocomplete}),
    )


class RegistrationForm(forms.Form):
    email = _email()
    password = _password("Password", "new-password", "12 to 72 characters.")


class LogInForm(forms.Form):
    email = _email()
    password = _password("Password", "current-password")
    remember_me = forms.BooleanField(label="Keep me logged in for 14 days", required=False)


class EmailOnlyForm(forms.Form):
    email = _email()


class MagicLinkForm(forms.Form):
    email = _email("Email for a log-in link")

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        kwargs.setdefault("auto_id", "link_%s")  # the password form on the page has id_email
        super().__init__(*args, **kwargs)


class NewPasswordForm(forms.Form):
    password = _password("New password", "new-password", "12 to 72 characters.")
    password_confirmation = _password("Confirm new password", "new-password")


class ChangeEmailForm(forms.Form):
    email = _email("New email")


class ProfileForm(forms.Form):
    first_name = forms.CharField(
        label="First name", max_length=255, required=False, validators=[reject_nul]
    )
    last_name = forms.CharField(
        label="Last name", max_length=255, required=False, validators=[reject_nul]
    )
    avatar_url = forms.URLField(
        label="Avatar URL",
        max_length=255,
        required=False,
        validators=[reject_nul],
        assume_scheme="https",
    )
