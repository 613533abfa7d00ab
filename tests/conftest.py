"""Settings shared by every test suite."""

import os

from hypothesis import HealthCheck
from hypothesis import settings

# CI: deterministic examples, so that a red run is reproducible.
settings.register_profile(
    'ci', max_examples=150, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow])
settings.register_profile('dev', max_examples=60, deadline=None)
settings.register_profile('deep', max_examples=2000, deadline=None)
settings.load_profile(os.environ.get('HYPOTHESIS_PROFILE', 'dev'))
