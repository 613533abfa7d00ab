#    Licensed under the Apache License, Version 2.0 (the "License"); you may
#    not use this file except in compliance with the License. You may obtain
#    a copy of the License at
#
#         http://www.apache.org/licenses/LICENSE-2.0
#
#    Unless required by applicable law or agreed to in writing, software
#    distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
#    WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
#    License for the specific language governing permissions and limitations
#    under the License.

"""Database URLs: masked in everything nested_pivot prints, logs, journals
or puts in JSON (one function, :func:`mask`), and checked before use.

A database URL carries its password in ``user:password@`` or in a query
parameter (``?password=...``), percent-encoded or not.  :func:`mask` hides
both forms wherever a URL appears in a text.  A URL the program was given
(``--placement-db``, ``--nova-db``, nova.conf's ``[database]`` and
``[api_database]`` connections, a cell's mapping) is also
:func:`remember`-ed, so that its password is masked even where no pattern
could tell where it ends: an unencoded space in it, say.
:func:`problem` says what would make a URL fail or leak when used.
"""

from __future__ import annotations

from pathlib import Path
import re
import threading
import urllib.parse

MASK = '***'

_SCHEME = r'[A-Za-z][A-Za-z0-9+.-]*://'
# user:password@: the password runs to the last "@" of the word, so that
# an unencoded "@" in it is masked whole.
_USERINFO = re.compile(rf'(?P<head>{_SCHEME}[^:/@\s]*):\S*@')
# user:pass word@: an unencoded space; the password runs to the next "@"
# of the line, when no "/" comes first (else it was a port and a path).
_SPACED = re.compile(rf'(?P<head>{_SCHEME}[^:/@\s]*):[^@/\n]*@')
SECRET_KEYS = ('password', 'passwd', 'pwd', 'pass', 'secret', 'token',
               'auth_token', 'api_key', 'sslpassword')
_QUERY = re.compile(
    r'(?P<head>[?&;](?:' + '|'.join(SECRET_KEYS) + r')=)[^&#\s]*',
    re.IGNORECASE)

_LOCK = threading.Lock()
_KNOWN: set[tuple[str, str]] = set()
"""(text to find, what replaces it) for every remembered secret."""


def mask(text: str) -> str:
    """``text`` with the password of every URL in it replaced by ***."""
    with _LOCK:
        known = sorted(_KNOWN, key=lambda k: -len(k[0]))
    for found, replacement in known:
        text = text.replace(found, replacement)
    text = _USERINFO.sub(rf'\g<head>:{MASK}@', text)
    text = _SPACED.sub(rf'\g<head>:{MASK}@', text)
    return _QUERY.sub(rf'\g<head>{MASK}', text)


def remember(url: str | None) -> None:
    """Mask the password of ``url`` wherever it appears from now on, in
    every form it may be printed in (as given, and percent-decoded)."""
    if not url or '://' not in url:
        return
    found: set[tuple[str, str]] = set()
    for password in _passwords(url):
        for form in {password, urllib.parse.unquote(password)}:
            if form:
                found.add((f':{form}@', f':{MASK}@'))
    for key, value in _query(url):
        for form in {value, urllib.parse.unquote_plus(value)}:
            if form:
                found.add((f'{key}={form}', f'{key}={MASK}'))
    with _LOCK:
        _KNOWN.update(found)


def problem(url: str) -> str | None:
    """What makes ``url`` unusable as given, or None.

    An unencoded ``@`` in the password makes every URL parser take the
    rest of the password for the host, which then shows in the driver's
    errors.  A SQLite file that does not exist would be created empty.
    """
    rest = url.split('://', 1)[1] if '://' in url else ''
    authority = re.split(r'[/?#]', rest, maxsplit=1)[0]
    if authority.count('@') > 1:
        return ('the password holds an unencoded "@", which would be read '
                'as the end of the password and the rest taken for the '
                'host: percent-encode it as %40')
    match = re.match(r'^sqlite(\+\w+)?:///(?P<path>.+)$', url)
    if match and not match.group('path').startswith(':memory:'):
        path = Path(match.group('path').split('?', 1)[0])
        if not path.is_file():
            return f'no such SQLite database file {path}'
    return None


def _passwords(url: str) -> set[str]:
    """The password of ``url``: up to the last "@" before the path, and
    up to the last "@" of all (a "/" in the password)."""
    rest = url.split('://', 1)[1]
    authority = re.split(r'[/?#]', rest, maxsplit=1)[0]
    found = set()
    for userinfo in (authority, rest):
        if '@' in userinfo:
            user = userinfo[:userinfo.rfind('@')]
            if ':' in user:
                found.add(user.split(':', 1)[1])
    return found


def _query(url: str) -> list[tuple[str, str]]:
    """The secret parameters of the query, as (key as written, value)."""
    if '?' not in url:
        return []
    query = url.split('?', 1)[1].split('#', 1)[0]
    found = []
    for part in re.split(r'[&;]', query):
        key, sep, value = part.partition('=')
        if sep and key.lower() in SECRET_KEYS:
            found.append((key, value))
    return found
