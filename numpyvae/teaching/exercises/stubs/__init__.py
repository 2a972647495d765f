"""The blank exercises. ``python -m numpyvae.exercises start`` copies them into ./exercises/ for you to fill in."""
