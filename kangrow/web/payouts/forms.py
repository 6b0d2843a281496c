from django import forms


class PayPalEmailForm(forms.Form):
    email = forms.EmailField(
        label="PayPal email",
        max_length=254,
        help_text="The email address of the PayPal account your payouts go to.",
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
