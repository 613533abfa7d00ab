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

"""The command's log: through oslo.log, as OpenStack services log, when
the command line says where (``--log-file``, ``--log-dir``,
``--use-syslog``, ``--use-journal``, ``--log-config-append``); the other
oslo.log options (formats with their timestamps, ``default_log_levels``,
``syslog_log_facility``, ``use_json`` ...) come from the ``[DEFAULT]``
section of ``--config-file``.

The config file's own ``log_file`` and ``log_dir`` are not used: given
nova.conf, they would put this command's log into nova-compute's.
Without a destination, only ``--debug`` logs, to stderr.  Every record
has its passwords masked.
"""

from __future__ import annotations

import argparse
import logging
import sys

from nested_pivot.cmd import access

DESTINATIONS = ('log_file', 'log_dir', 'log_config_append', 'use_syslog',
                'use_journal')
"""The oslo.log options the command line gives, and only it."""


def add_arguments(parser: argparse.ArgumentParser,
                  default: object) -> None:
    """The destinations, in a group of the shared options; ``default``
    is each one's default (``argparse.SUPPRESS`` after the command
    name)."""
    group = parser.add_argument_group(
        'logging (oslo.log; its other options from [DEFAULT] of '
        '--config-file)')
    group.add_argument('--log-file', metavar='PATH', default=default,
                       help='append the log here, each line with its '
                            'timestamp')
    group.add_argument('--log-dir', metavar='DIR', default=default,
                       help='log to DIR/nested-pivot.log (or to '
                            'DIR/<--log-file>)')
    group.add_argument('--log-config-append', metavar='PATH',
                       default=default,
                       help='a Python logging configuration file, as '
                            'oslo.log reads it')
    group.add_argument('--use-syslog', action='store_true', default=default,
                       help='log to syslog')
    group.add_argument('--use-journal', action='store_true',
                       default=default, help='log to the systemd journal')


def setup(args: argparse.Namespace) -> None:
    """Logging for this command: oslo.log when a destination is given,
    else critical records only (everything with ``--debug``) on
    stderr."""
    if not any(getattr(args, name, None) for name in DESTINATIONS):
        logging.basicConfig(level=logging.DEBUG if args.debug
                            else logging.CRITICAL)
    else:
        _oslo_log(args)
    for handler in logging.getLogger().handlers:
        handler.addFilter(access.MaskingFilter())


def _oslo_log(args: argparse.Namespace) -> None:
    from oslo_log import log

    conf = access._conf(args.config_file, log.register_options)
    for name in DESTINATIONS:
        conf.set_override(name, getattr(args, name, None) or None)
    conf.set_override('debug', bool(args.debug))
    conf.set_override('use_stderr', False)
    try:
        log.setup(conf, 'nested_pivot')
    except (OSError, ValueError, RuntimeError) as err:
        raise access.AccessError(reason=f'cannot log as asked: {err}'
                                 ) from None
    # oslo.log falls back to stdout without a file or journal (with
    # syslog only, say): stdout is the command's output, never its log.
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, 'stream', None) is sys.stdout:
            root.removeHandler(handler)
