"""What the rest of the server knows of a model: the platform-neutral ``Servable`` and ``Loader``.

A ``Loader`` turns one version folder into a ``Servable``; a ``Servable`` runs its
signatures on numpy arrays. Nothing here imports a model framework, nor do the shared
modules beside it (``example_features``, ``example_proto``, ``version_folder``,
``warmup_options``, ``deferred_tensorflow``): each platform lives in its own subpackage
(``servables.tensorflow``, ``servables.sklearn``, ...), imported when a version of it is
first loaded (``app.platforms``, which registers every platform the same way).
"""

from protocol.signatures import Signature, TensorSpec
from servables.loader import Loader
from servables.servable import Servable

__all__ = ["Loader", "Servable", "Signature", "TensorSpec"]
