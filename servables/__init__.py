"""What the rest of the server knows of a model: the platform-neutral ``Servable`` and ``Loader``.

A ``Loader`` turns one version folder into a ``Servable``; a ``Servable`` runs its
signatures on numpy arrays. Nothing here imports a model framework: each platform lives
in its own subpackage (``servables.tensorflow``) and is imported only by the composition
root that registers it.
"""

from protocol.signatures import Signature, TensorSpec
from servables.loader import Loader
from servables.servable import Servable

__all__ = ["Loader", "Servable", "Signature", "TensorSpec"]
