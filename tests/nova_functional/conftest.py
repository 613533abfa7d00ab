"""These are testtools tests for nova's harness, which pytest cannot run:
``tox -e nova`` runs them with stestr."""

collect_ignore_glob = ['test_*.py']
