"""allauth adapters for single sign-on: new accounts come only from the identity provider.

Local sign-up stays closed (accounts come from admins and invite links); a person who signs
in through the identity provider for the first time gets an account, since the provider
already decides who may sign in. Imported only when single sign-on is configured.
"""

from allauth.account.adapter import DefaultAccountAdapter
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter


class NoLocalSignupAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request) -> bool:
        return False


class SsoAdapter(DefaultSocialAccountAdapter):
    def is_open_for_signup(self, request, sociallogin) -> bool:
        return True
