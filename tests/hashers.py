"""A password hasher for the tests: Django's PBKDF2 with few iterations, under the same algorithm name.

Every persona has a password, and Django's default of a million iterations costs a quarter of a second per
persona, several per test. A hash made here names its iteration count, so any process that runs the standard
hasher (a server the tests start in a subprocess) still verifies it; production settings are not touched."""

from django.contrib.auth.hashers import PBKDF2PasswordHasher


class FastPBKDF2PasswordHasher(PBKDF2PasswordHasher):
    iterations = 1_000
