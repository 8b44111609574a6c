"""Organization roles and their permissions: the ``roles`` setting.

A role key maps to the permissions it grants::

    Roles({"org:admin": ["org:invoices:read", "org:invoices:write"],
           "org:member": ["org:invoices:read"]})

The default is :data:`DEFAULT_ROLES`: ``org:admin`` and ``org:member``, no permissions.
Both keys must be present in any configuration: :data:`CREATOR_ROLE` is the role of an
organization's creator and :data:`DEFAULT_ROLE` that of a new membership. A membership's
permissions are its role's, looked up when a token is rendered (:meth:`Roles.permissions_for`),
so a change of the setting reaches each token at its next reissue or refresh.

Role keys and permissions are 1 to 64 characters of ``A-Z a-z 0-9 : _ . -``, starting
with a letter or a digit: they go into tokens (``org_role``, ``org_permissions``) and into
``auth.scopes``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from types import MappingProxyType

from ._errors import ConfigurationError, InvalidRequest

__all__ = ["CREATOR_ROLE", "DEFAULT_ROLE", "DEFAULT_ROLES", "Roles"]

CREATOR_ROLE = "org:admin"
"""The role of the person who creates an organization (``created_by``)."""
DEFAULT_ROLE = "org:member"
"""The role of a new membership when none is given."""
DEFAULT_ROLES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {CREATOR_ROLE: (), DEFAULT_ROLE: ()}
)
"""The ``roles`` setting when none is configured."""

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9:_.\-]{0,63}")


def _check_name(what: str, value: object) -> str:
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise ConfigurationError(
            f"roles: {what} {value!r} must be 1-64 characters of letters, digits, ':', '_', "
            "'.' or '-', starting with a letter or digit (e.g. 'org:invoices:read')"
        )
    return value


class Roles(Mapping[str, tuple[str, ...]]):
    """Role key -> its permissions (a read-only mapping), checked when built."""

    __slots__ = ("_roles",)

    def __init__(self, roles: Mapping[str, Sequence[str]] | None = None) -> None:
        if roles is None:
            roles = DEFAULT_ROLES
        if not isinstance(roles, Mapping):
            raise ConfigurationError(
                "roles must be a mapping of role key to a list of permissions, e.g. "
                '{"org:admin": ["org:invoices:write"], "org:member": []}; '
                f"got {type(roles).__name__}"
            )
        checked: dict[str, tuple[str, ...]] = {}
        for role, permissions in roles.items():
            _check_name("the role key", role)
            if isinstance(permissions, str) or not isinstance(permissions, Sequence):
                raise ConfigurationError(
                    f"roles: the permissions of {role!r} must be a list of strings, "
                    f"got {permissions!r}"
                )
            names = tuple(_check_name(f"a permission of {role!r},", p) for p in permissions)
            if len(set(names)) != len(names):
                raise ConfigurationError(f"roles: {role!r} lists a permission twice")
            checked[role] = names
        missing = [r for r in (CREATOR_ROLE, DEFAULT_ROLE) if r not in checked]
        if missing:
            raise ConfigurationError(
                f"roles must define {' and '.join(repr(r) for r in missing)}: "
                f"{CREATOR_ROLE!r} is the role of an organization's creator and "
                f"{DEFAULT_ROLE!r} the role of a new membership (give them [] for no "
                "permissions)"
            )
        self._roles: Mapping[str, tuple[str, ...]] = MappingProxyType(checked)

    def __getitem__(self, role: str) -> tuple[str, ...]:
        return self._roles[role]

    def __iter__(self) -> Iterator[str]:
        return iter(self._roles)

    def __len__(self) -> int:
        return len(self._roles)

    def permissions_for(self, role: str) -> tuple[str, ...]:
        """The permissions of ``role``; ``()`` for a role no longer configured (a
        membership keeps its role when the setting changes; it then grants nothing)."""
        return self._roles.get(role, ())

    def check(self, role: object) -> str:
        """``role`` if it is configured; else :class:`~sessionclaims.InvalidRequest`
        ``unknown_role`` (422, ``param`` ``role``)."""
        if not isinstance(role, str) or role not in self._roles:
            if isinstance(role, str) and len(role) <= 64:
                shown = repr(role)
            elif isinstance(role, str):
                shown = "a role of more than 64 characters"
            else:
                shown = f"a {type(role).__name__}"
            raise InvalidRequest(
                "unknown_role",
                f"role {shown} is not a configured role; known roles: {', '.join(self._roles)}",
                param="role",
            )
        return role

    def to_dict(self) -> dict[str, list[str]]:
        """The setting as plain JSON (role key -> list of permissions)."""
        return {role: list(permissions) for role, permissions in self._roles.items()}

    def __repr__(self) -> str:
        return f"Roles({self.to_dict()!r})"
