"""Reading and validating the server's configuration, before TensorFlow is imported.

Everything the server learns before it serves comes through this package, and
``config.server_config.load_server_config(options)`` gathers it into one frozen
``ServerConfig``: the command line (``flags``), the model list (``model_config``, TF
Serving's ``models.config``), the platform config (``platform_config``), the batching
parameters (``batching_config``), monitoring (``monitoring_config``), TLS
(``ssl_config``), the TensorFlow session options (``session_config``,
``tensorflow_options``) and the custom op libraries. The protobuf messages these files
use come from ``protos``, a descriptor set committed beside the ``.proto`` files.

Contract shared by every module here:

- Nothing in this package imports TensorFlow, not even lazily (only the build step
  ``python -m config.protos.build`` does). A malformed file is therefore rejected in a
  fraction of a second; what needs TensorFlow's runtime happens at the TF edge
  (``servables.tensorflow``), after the configuration was accepted.
- Input is parsed once into frozen dataclasses of plain values (a session
  ``ConfigProto`` travels as its serialized bytes); nothing downstream sees a mutable
  protobuf message or re-reads a file.
- Every problem a user can fix is a :class:`config.errors.ConfigError` that names the file
  (or "command line"), the line where it can be found, and the field. ``server.py`` prints
  it and exits non-zero; a reload request maps it to INVALID_ARGUMENT.
- Warnings are returned (``ServerConfig.warnings``), never logged here.
- Nothing here expands environment variables or touches global state; parsing the same
  text twice gives equal results.

Module dependencies point one way: ``errors``, ``textproto``, ``protos`` and ``flags`` at
the bottom; the per-file modules above them; ``tensorflow_options`` over
``session_config`` and ``platform_config``; ``server_config`` on top.
"""
