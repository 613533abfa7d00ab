"""The soak uses the functional tests' real servers (one per backend)."""

from tests.functional.conftest import placement_servers  # noqa: F401
from tests.functional.conftest import real_server  # noqa: F401
