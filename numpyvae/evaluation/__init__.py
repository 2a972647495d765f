"""Evaluation: the -ELBO and its terms, IWAE bounds, active units (``bounds``) and the lean IWAE pass
(``lean_iwae``) that makes K = 5000 over the whole test set take minutes."""
