from django.contrib.auth.forms import UserCreationForm


class InviteSignUpForm(UserCreationForm):
    """Username and the password twice, checked by Django's password validators."""
