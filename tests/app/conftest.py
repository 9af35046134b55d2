"""Fixtures shared by the app tests."""

from tests.run_guard import no_run as no_run
