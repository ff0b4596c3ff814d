"""Accord's settings plus the bare endpoint the HTTP benchmark compares the decision API with."""

from accord.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
