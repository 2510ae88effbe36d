"""Create the first admin account on an empty database and print its one-time password."""

import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "On an empty database, create the admin account and print a one-time password."

    def handle(self, *args: Any, **options: Any) -> None:
        users = get_user_model()
        if users.objects.filter(is_superuser=True, is_active=True).exists():
            return
        password = secrets.token_urlsafe(12)
        user, _ = users.objects.get_or_create(username="admin")
        user.is_staff = user.is_superuser = user.is_active = True
        user.set_password(password)
        user.save()
        self.stdout.write(
            self.style.SUCCESS(
                "\nFirst run: created the admin account.\n"
                f"  username: admin\n  password: {password}\n"
                "Log in, then change it at /admin/password_change/ (this is shown once).\n"
            )
        )
