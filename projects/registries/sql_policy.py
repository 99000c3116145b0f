"""What a SQL integration may ask of its driver: which URL query options, which schemas and databases.

Method. A URL's query options reach the driver's connect() verbatim, and several of them read server files
(`read_default_file`, `sslkey`, `passfile`), open unix sockets (`unix_socket`, `host`) or make the driver upload files
when the server asks (`local_infile`, `client_flag`). So options are an allow-list per driver, each value checked for
shape; LOCAL INFILE is also switched off in the arguments every connection gets, which win over anything in the URL.
System schemas (and, on MySQL, system databases, which are schemas there) are refused: they hold password hashes,
grants and server state, never a dataset.
"""
from __future__ import annotations

import re
from collections.abc import Callable

SYSTEM_SCHEMAS = frozenset({"pg_catalog", "information_schema", "mysql", "performance_schema", "sys", "pg_toast"})
_NAME_RE = re.compile(r"^[A-Za-z0-9_ .-]{1,63}$")
_CHARSET_RE = re.compile(r"^[a-z0-9_]{1,32}$")


class SqlOptionError(ValueError):
    """A URL option or a schema the server refuses; the message names it."""


def _one_of(*choices: str) -> Callable[[str], bool]:
    return lambda value: value in choices


def _seconds(value: str) -> bool:
    return value.isdigit() and 1 <= int(value) <= 3600


QUERY_OPTIONS: dict[str, dict[str, tuple[Callable[[str], bool], str]]] = {
    "postgresql": {
        "sslmode": (_one_of("disable", "allow", "prefer", "require", "verify-ca", "verify-full"),
                    "disable, allow, prefer, require, verify-ca or verify-full"),
        "application_name": (lambda v: bool(_NAME_RE.match(v)), "letters, digits, space, _ . - (63 at most)"),
        "target_session_attrs": (_one_of("any", "read-write", "read-only", "primary", "standby", "prefer-standby"),
                                 "any, read-write, read-only, primary, standby or prefer-standby"),
        "connect_timeout": (_seconds, "whole seconds, 1 to 3600"),
    },
    "mysql": {
        "charset": (lambda v: bool(_CHARSET_RE.match(v)), "a character set name such as utf8mb4"),
        "connect_timeout": (_seconds, "whole seconds, 1 to 3600"),
        "read_timeout": (_seconds, "whole seconds, 1 to 3600"),
        "write_timeout": (_seconds, "whole seconds, 1 to 3600"),
    },
    "sqlite": {},
}


def check_query(backend: str, query: dict) -> None:
    """Refuses any URL query option outside the driver's allow-list, or a value of the wrong shape."""
    allowed = QUERY_OPTIONS.get(backend, {})
    for key, value in query.items():
        if key not in allowed:
            accepted = ", ".join(sorted(allowed)) or "none"
            raise SqlOptionError(f"Database URL option “{key}” is not accepted for {backend} (accepted: {accepted}).")
        values = value if isinstance(value, tuple) else (value,)
        check, shape = allowed[key]
        if len(values) != 1 or not check(str(values[0])):
            raise SqlOptionError(f"Database URL option “{key}” must be {shape}.")


def check_database(backend: str, database: str | None) -> None:
    """On MySQL a database is a schema: its system ones are refused like system schemas."""
    if backend == "mysql" and database and database.lower() in SYSTEM_SCHEMAS:
        raise SqlOptionError(f"Database “{database}” is a system database; point the integration at a database "
                             "that holds your data.")


def check_schema(schema: str | None) -> None:
    if schema and schema.lower() in SYSTEM_SCHEMAS:
        raise SqlOptionError(f"Schema “{schema}” is a system schema (it holds the server's own catalogue, grants and "
                             "password hashes); it cannot be read as a dataset.")


def connect_args(backend: str, addresses: tuple[str, ...]) -> dict:
    """Arguments every connection gets; they override the URL's. The socket goes to the checked address (libpq's
    hostaddr keeps the host name for TLS), and LOCAL INFILE is off whatever the URL said."""
    if backend == "postgresql":
        return {"connect_timeout": 10, **({"hostaddr": addresses[0]} if addresses else {})}
    if backend == "mysql":
        return {"connect_timeout": 10, "local_infile": False, **({"host": addresses[0]} if addresses else {})}
    return {}
