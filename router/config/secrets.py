"""Secrets of the per-instance documents, sealed at rest with ``ROUTER_SECRETS_KEY``.

The stores on disk seal a document's secrets on the way into the database and open them on
the way out, so everything above the store sees plain values. What is sealed: the instance's
``token``, its Pusher ``secret``, and of each webhook its ``secret``, every header whose name
is a credential's (``jwt_key``, ``Authorization``, ...) and its URL when the URL carries a
credential (a password, a token in the query): what the logs would mask.

A sealed value is ``{"fernet": "<token>"}`` in the place of the string: no string a client
sends can be taken for a sealed value, so values written before a key was set read as they
are, and a client cannot store something that looks sealed and lock the store.

The key is one or more Fernet keys, comma-separated: the first seals, every one opens, so a
key is rotated by putting a new one first and removing the old one once every document was
written again (the stores do that when they open).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from cryptography.fernet import Fernet, InvalidToken

from router.logging import SECRET_KEY_PATTERN, mask_url

SEALED: Final = "fernet"
SETTING: Final = "ROUTER_SECRETS_KEY"
KEY_HINT: Final = (
    "32 url-safe base64-encoded bytes; make one with: python -c 'from cryptography.fernet "
    "import Fernet; print(Fernet.generate_key().decode())'"
)


class SecretsKeyError(ValueError):
    """The store holds a sealed value no configured key opens; the message says what to set."""


def parse_keys(text: str) -> list[Fernet]:
    """The keys of ``ROUTER_SECRETS_KEY``, first the one that seals. An empty text is no key;
    the messages never repeat a key."""
    parts = [part.strip() for part in text.split(",")]
    if not any(parts):
        return []
    keys = []
    for number, part in enumerate(parts, start=1):
        where = f"key {number} of {len(parts)}" if len(parts) > 1 else "the key"
        if not part:
            raise ValueError(f"{where} is empty; separate keys with one comma")
        try:
            raw = base64.b64decode(part, altchars=b"-_", validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        # Fernet itself takes some texts that are not a key's encoding (trailing characters),
        # which would make a mistyped key look right until it is needed.
        if len(raw) != 32 or base64.urlsafe_b64encode(raw).decode() != part:
            raise ValueError(f"{where} is not a Fernet key ({KEY_HINT})")
        keys.append(Fernet(part))
    return keys


def is_sealed(value: Any) -> bool:
    return isinstance(value, Mapping) and set(value) == {SEALED}


def is_credential_header(name: str) -> bool:
    return SECRET_KEY_PATTERN.search(name) is not None


def carries_credential(url: str) -> bool:
    """A URL with a password or a credential in its query: one the logs show masked."""
    return mask_url(url) != url


@dataclass(frozen=True, slots=True)
class Review:
    """What the stores' opening pass found in every document."""

    # Instances whose documents should be written again: plain secrets while a key is set, or
    # values sealed with a key that is no longer the first.
    stale: tuple[str, ...] = ()
    # Instances holding secrets in plain text.
    unsealed: tuple[str, ...] = ()


@dataclass(slots=True)
class _Seen:
    plain: bool = False
    old_key: bool = False


@dataclass(frozen=True, slots=True)
class Sealer:
    """Seals and opens the secrets of configuration documents (``InstanceConfig.to_document``
    form) with the keys of ``ROUTER_SECRETS_KEY``; without keys it seals nothing and opens
    only plain values."""

    keys: tuple[Fernet, ...] = field(default=(), repr=False)

    @classmethod
    def from_text(cls, text: str) -> Sealer:
        """The sealer of a ``ROUTER_SECRETS_KEY`` value (checked by the settings already)."""
        return cls(tuple(parse_keys(text)))

    @property
    def enabled(self) -> bool:
        return bool(self.keys)

    def seal(self, document: Mapping[str, Any]) -> dict[str, Any]:
        """A copy of ``document`` with every secret sealed under the first key (unchanged
        without a key)."""
        if not self.keys:
            return dict(document)
        first = self.keys[0]

        def seal_one(value: Any) -> Any:
            if isinstance(value, str) and value:
                return {SEALED: first.encrypt(value.encode()).decode()}
            return value

        return _transformed(document, seal_one)

    def open(self, document: Mapping[str, Any], instance: str = "") -> dict[str, Any]:
        """A copy of ``document`` with every sealed value opened."""
        return self._opened(document, instance, _Seen())

    def review(self, documents: Iterable[tuple[str, Mapping[str, Any]]]) -> Review:
        """Opens every ``(instance, document)`` (so a value no key opens is refused now, not
        when it is first needed) and says which documents to write again."""
        stale: list[str] = []
        unsealed: list[str] = []
        for instance, document in documents:
            seen = _Seen()
            self._opened(document, instance, seen)
            if seen.plain:
                unsealed.append(instance)
            if self.keys and (seen.plain or seen.old_key):
                stale.append(instance)
        return Review(tuple(stale), tuple(unsealed))

    def _opened(self, document: Mapping[str, Any], instance: str, seen: _Seen) -> dict[str, Any]:
        def open_one(value: Any) -> Any:
            if is_sealed(value):
                plain, current = self._open_value(str(value[SEALED]), instance)
                seen.old_key = seen.old_key or not current
                return plain
            if isinstance(value, str) and value:
                seen.plain = True
            return value

        return _transformed(document, open_one)

    def _open_value(self, token: str, instance: str) -> tuple[str, bool]:
        """The plain value, and whether the first key opened it."""
        whose = f" (instance {instance!r})" if instance else ""
        if not self.keys:
            raise SecretsKeyError(
                f"the configuration store holds sealed secrets{whose} but {SETTING} is not "
                f"set; set it to the key they were sealed with"
            )
        for number, key in enumerate(self.keys):
            try:
                return key.decrypt(token.encode()).decode(), number == 0
            except InvalidToken:
                continue
        raise SecretsKeyError(
            f"the configuration store holds secrets{whose} that no key in {SETTING} opens; "
            f"set {SETTING} to the key they were sealed with (to rotate: the new key first, "
            f"then the old one, comma-separated)"
        )


def _transformed(document: Mapping[str, Any], change: Callable[[Any], Any]) -> dict[str, Any]:
    """A copy of ``document`` with ``change`` applied to every secret's place, plain or
    sealed. A URL is such a place when it carries a credential or is sealed."""
    out = dict(document)
    if "token" in out:
        out["token"] = change(out["token"])
    pusher = out.get("pusher")
    if isinstance(pusher, Mapping) and "secret" in pusher:
        out["pusher"] = {**pusher, "secret": change(pusher["secret"])}
    webhooks = out.get("webhooks")
    if isinstance(webhooks, list | tuple):
        out["webhooks"] = [_webhook(hook, change) for hook in webhooks]
    return out


def _webhook(hook: Any, change: Callable[[Any], Any]) -> Any:
    if not isinstance(hook, Mapping):
        return hook
    out = dict(hook)
    if out.get("secret") is not None:
        out["secret"] = change(out["secret"])
    url = out.get("url")
    if is_sealed(url) or (isinstance(url, str) and carries_credential(url)):
        out["url"] = change(url)
    headers = out.get("headers")
    if isinstance(headers, Mapping):
        out["headers"] = {
            name: change(value) if is_credential_header(str(name)) or is_sealed(value) else value
            for name, value in headers.items()
        }
    return out
