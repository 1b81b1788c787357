"""TensorFlow's generated protos without TensorFlow: the package's ``__init__`` runs on first use.

TF Serving's API protos (``tensorflow_serving.apis``, which every frontend speaks) import
TensorFlow's own (``tensorflow.core.framework.tensor_pb2``, ...). Those are plain generated
modules, but importing any module under ``tensorflow.`` first runs the package's
``__init__``, and that imports all of TensorFlow. Measured here (TF 2.21, two shared
cores, times vary with the load): importing ``app.supervisor`` took 4,338 modules, 7.0 s
and 728 MB peak RSS that way, against 698 modules, 1.2 s and 72 MB with
``defer_tensorflow_init()``. A server whose models are all ONNX,
scikit-learn or XGBoost never needs the rest, nor its start-up noise.

``defer_tensorflow_init()`` puts the ``tensorflow`` package in ``sys.modules``
uninitialised: its submodules import as usual, and the package's ``__init__`` runs, once,
under a lock, the first time an attribute the package does not have yet is read
(``tf.Graph``, ``tf.errors``, ``from tensorflow import keras``). Code that uses TensorFlow
imports it as usual (``import tensorflow as tf``) and sees no difference; a thread that
reads an attribute while another runs the ``__init__`` waits for it to finish. If that
``__init__`` fails, the error propagates and the package leaves ``sys.modules``, as after
any failed import. ``server.py`` calls it once, before anything imports a proto; it does
nothing when TensorFlow was imported already or is not installed. ``tensorflow_initialised()``
tells whether the ``__init__`` ran (tests use it).
"""

from __future__ import annotations

import importlib.util
import sys
import threading
import types
from typing import Any

_lock = threading.RLock()  # the one-time __init__; other threads wait for it to finish
_running_init = False  # true while the __init__ runs (in the thread holding the lock)


class _UninitialisedPackage(types.ModuleType):
    """The ``tensorflow`` package before its ``__init__`` ran; runs it on a missing attribute."""

    def __getattr__(self, name: str) -> Any:
        global _running_init  # one flag, as there is one package
        with _lock:
            if type(self) is _UninitialisedPackage:
                if _running_init:  # the __init__ itself asking: not there yet, as in any import
                    raise AttributeError(f"partially initialised module 'tensorflow': {name}")
                spec = self.__spec__
                assert spec is not None and spec.loader is not None
                _running_init = True
                try:
                    spec.loader.exec_module(self)
                except BaseException:
                    if sys.modules.get(self.__name__) is self:
                        del sys.modules[self.__name__]
                    raise
                finally:
                    _running_init = False
                self.__class__ = types.ModuleType  # type: ignore[assignment]  # plain from now on
        return getattr(self, name)


def defer_tensorflow_init() -> bool:
    """Make ``tensorflow``'s ``__init__`` wait for first use; False if there was nothing to do."""
    if "tensorflow" in sys.modules:
        return False
    spec = importlib.util.find_spec("tensorflow")
    if spec is None or spec.loader is None:
        return False
    package = importlib.util.module_from_spec(spec)
    package.__class__ = _UninitialisedPackage
    sys.modules["tensorflow"] = package
    return True


def tensorflow_initialised() -> bool:
    """Whether ``tensorflow``'s ``__init__`` ran in this process."""
    package = sys.modules.get("tensorflow")
    return package is not None and type(package) is not _UninitialisedPackage
