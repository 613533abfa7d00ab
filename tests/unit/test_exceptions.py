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

"""One error boundary: every exception derives from PivotError, with its
own code and format_message(), as in placement and nova."""

from __future__ import annotations

import inspect
import re

import pytest

from nested_pivot import errors
from nested_pivot import exception
from nested_pivot import layoutfile

CLASSES = sorted((cls for cls in vars(exception).values()
                  if inspect.isclass(cls)
                  and issubclass(cls, exception.PivotError)),
                 key=lambda cls: cls.__name__)


@pytest.mark.parametrize('cls', CLASSES, ids=lambda cls: cls.__name__)
def test_each_exception_formats_its_message_from_its_keywords(cls):
    """Fails when an exception's msg_fmt names a keyword it cannot be
    given, or format_message() says something else than str()."""
    keys = re.findall(r'%\((\w+)\)', cls.msg_fmt)
    err = cls(**{k: 7 if k in ('amount', 'used', 'attempts') else f'<{k}>'
                 for k in keys})
    assert err.format_message() == str(err) == err.message
    for key in keys:
        assert ('7' if key in ('amount', 'used', 'attempts')
                else f'<{key}>') in err.message


def test_codes_are_unique_and_each_subclass_of_the_boundary_has_its_own():
    """Fails when two exceptions share a code (a tool matching on one
    would catch the other), or when a signal the library raises itself
    falls back to the base class's code."""
    codes = [cls.code for cls in CLASSES if cls is not exception.PivotError]
    assert len(codes) == len(set(codes))
    values = [v for n, v in vars(errors).items() if n.isupper()]
    assert len(values) == len(set(values))
    for cls in (exception.NodeChanged, exception.TransientFailure,
                exception.FactsRefused, exception.BadNovaRow,
                exception.LayoutFileError):
        assert cls.code != errors.DEFAULT, cls


def test_a_concurrent_change_says_whether_the_write_may_have_landed():
    err = exception.NodeChanged('creating cell0: taken',
                                maybe_applied=True)
    assert err.maybe_applied and err.format_message() == \
        'creating cell0: taken'
    assert not exception.NodeChanged(detail='x').maybe_applied


def test_a_layout_file_error_is_an_invalid_layout_with_a_short_reason():
    """Fails when a layout file's error stops being caught as an invalid
    layout, or quotes a whole file back."""
    err = layoutfile.LayoutFileError(file='/etc/l.yaml', where='syntax',
                                     reason='x' * 1000)
    assert isinstance(err, exception.InvalidLayout)
    assert layoutfile.LayoutFileError is exception.LayoutFileError
    assert err.code == errors.LAYOUT_FILE_INVALID
    assert err.message.startswith('/etc/l.yaml: syntax: ' + 'x' * 300)
    assert err.message.endswith('... (1000 characters)')
