"""Fixtures shared by the e2e tests."""

from tests.run_guard import no_run as no_run
