"""Set up and read back the benchmark database (run with the server's environment).

python -m bench.dbtool setup   < {"users": U, "groups": {"name": n, ...}}
    migrates, creates users bench0..U-1 each with a logged-in session, and for every group
    n conversations (conversation i owned by user i); prints
    {"sessions": [key, ...], "groups": {"name": [conversation id, ...]}}
python -m bench.dbtool verify  < {"conversations": [id, ...]}
    prints {"<id>": [[status, text], ...]} of each conversation's answers, oldest first
"""

import json
import os
import sys
from datetime import timedelta


def _django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    sys.path.insert(0, os.getcwd())
    import django

    django.setup()


def setup(spec: dict) -> dict:
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import User
    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.models import Session
    from django.core.management import call_command
    from django.db import transaction
    from django.utils import timezone
    from django.utils.crypto import get_random_string

    from chat.models import Conversation

    call_command("migrate", verbosity=0, interactive=False)
    count = spec["users"]
    unusable = make_password(None)
    with transaction.atomic():
        users = User.objects.bulk_create(
            [User(username=f"bench{i}", password=unusable) for i in range(count)]
        )
        store = SessionStore()
        expires = timezone.now() + timedelta(days=1)
        sessions = []
        for user in users:
            data = {
                SESSION_KEY: str(user.pk),
                # The backend that logs people in (axes' standalone backend, listed first,
                # only guards logins and cannot load a user).
                BACKEND_SESSION_KEY: "django.contrib.auth.backends.ModelBackend",
                HASH_SESSION_KEY: user.get_session_auth_hash(),
            }
            key = get_random_string(32, "abcdefghijklmnopqrstuvwxyz0123456789")
            sessions.append(
                Session(session_key=key, session_data=store.encode(data), expire_date=expires)
            )
        Session.objects.bulk_create(sessions)
        groups = {}
        for name, n in spec["groups"].items():
            made = Conversation.objects.bulk_create(
                [Conversation(owner=users[i], title=f"bench {name} {i}") for i in range(n)]
            )
            groups[name] = [c.pk for c in made]
    return {"sessions": [s.session_key for s in sessions], "groups": groups}


def verify(spec: dict) -> dict:
    from chat.models import Message

    out: dict[str, list] = {str(c): [] for c in spec["conversations"]}
    rows = (
        Message.objects.filter(
            conversation_id__in=spec["conversations"], role=Message.Role.ASSISTANT
        )
        .order_by("id")
        .values_list("conversation_id", "status", "text")
    )
    for conversation_id, status, text in rows:
        out[str(conversation_id)].append([status, text])
    return out


def main() -> None:
    command = sys.argv[1]
    spec = json.load(sys.stdin)
    _django()
    result = {"setup": setup, "verify": verify}[command](spec)
    sys.stdout.write(json.dumps(result))


if __name__ == "__main__":
    main()
