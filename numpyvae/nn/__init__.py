"""The maths: layers, loss terms, initializers, optimizers and learning-rate schedules, each with its
hand-written backward pass (``numpyvae.nn.layers``, ``.losses``, ``.initializers``, ``.optim``, ``.schedules``)."""
