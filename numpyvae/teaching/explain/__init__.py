"""The chain rule on a real network, made visible: ``python -m numpyvae.explain``.

    trace     the forward pass as a legend of named nodes, and VAE.backward observed stage by stage, checked
    bugs      named bugs to plant for one run (``--bug NAME``) and where the check catches each
    mystery   a bug planted unnamed (``--mystery SEED``): the evidence, and ``--guess NAME``
    worked    a two-pixel, one-latent VAE with a number at every node, small enough to do by hand
    graph     the computation graph drawn with Pillow (docs/images/graph.png)
    variance  the variance of the encoder's gradient under estimators A, B and the score function
    bounds    the -ELBO and IWAE bounds on the same images, compared pair by pair
"""

from ...models.vae import VAE
from .bugs import BUGS, planted
from .command import main
from .trace import Stage, TracedVAE, explain, numerical_check, observe_backward

__all__ = ["BUGS", "Stage", "TracedVAE", "VAE", "explain", "main", "numerical_check", "observe_backward", "planted"]
