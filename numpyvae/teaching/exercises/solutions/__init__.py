"""Worked solutions, printed by ``python -m numpyvae.exercises solution NAME`` (each passes its check)."""
