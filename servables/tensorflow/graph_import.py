"""Import a SavedModel's graph in steps, so that a load never holds the GIL for long.

Why: TensorFlow imports a GraphDef with one C call (``TF_GraphImportGraphDefWithResults``)
that holds the GIL from start to end: for a graph of 40,000 nodes, 0.6 s of CPU, which
stalled the event loop, and so every other model's requests, for 0.9 to 1.6 s on a busy
core (``bench/load_stall.py``, issue 21). Imported ``STEP_NODES`` nodes at a time, with a
``STEP_PAUSE_S`` sleep between steps (the event loop takes the GIL then), each call holds
the GIL for a few milliseconds plus a part that grows with the graph already imported
(TF scans every name in the graph on each call: about 0.8 ms of CPU per 1,000 nodes, so
32 ms per step once a graph holds 40,000 nodes). The price is CPU in the load thread:
with 1,000-node steps, a 40,000-node graph cost 1.7x the single call's CPU. After each step
the garbage collector's young generations are collected in the load's thread
(``collect_young_objects``), so that no collection started by a request walks the new graph.

``load_saved_model(session, tags, export_dir)`` is ``tf.compat.v1.saved_model.loader.load``
with the graph imported in steps, and ``saved_model.pb`` parsed once (not twice, as TF's
loader does) and in steps too (``parse_in_steps``):
the meta graph with ``tags``, its variables restored and its init op run, optionally in an
inter-op pool of their own (``restore_pool``: see ``saved_model.with_load_pool``).

Contract: ``import_meta_graph_in_steps(graph, meta_graph_def)`` leaves ``graph`` as
``tf.compat.v1.train.import_meta_graph(meta_graph_def)`` (no import scope, no input map)
would, and returns the same ``Saver``:

- the nodes go in as consecutive imports; a step holds whole *groups* of nodes, in an order
  where every group's inputs were imported by an earlier step or come in the same one; an
  input from an earlier step is mapped onto the tensor already in the graph. A group is the
  nodes that must travel together: a node with the nodes named inside its name (TF renames
  a node whose name is already a scope in the graph: "a/b" after "a/b/c"), and nodes
  colocated with each other (TF checks a ``loc:@`` name only against the GraphDef being
  imported). A control input from an earlier step's op without outputs (a NoOp, an
  AssignVariableOp) has no tensor to map onto: the node is imported without it and the
  edge added right after. Groups on a cycle (a TF1 while loop) and everything after them
  go in one last step;
- the function library goes in with the first step, so that every later step finds it;
- what the meta graph holds besides its nodes (collections, variables, the saver) is then
  imported by TensorFlow's own ``import_meta_graph``, given a copy of the meta graph whose
  GraphDef keeps only its versions: the nodes it names are already in the graph.

A graph of at most ``STEP_NODES`` nodes is imported in one call (still through the same
path); a load with an import scope or saver arguments (never the server's) goes through
TF's own ``load_graph`` unchanged. Errors are TF's own: an invalid graph fails in the
step that holds the bad node, with the error TF gives for it.
"""

from __future__ import annotations

import collections
import gc
import sys
import time
from collections.abc import Iterator, Sequence

import tensorflow as tf
from google.protobuf import message
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.internal import decoder
from tensorflow.core.framework import graph_pb2, node_def_pb2
from tensorflow.core.protobuf import config_pb2, meta_graph_pb2, saved_model_pb2
from tensorflow.python.lib.io import file_io
from tensorflow.python.saved_model import constants, loader_impl, path_helpers
from tensorflow.python.training import saver as tf_saver

STEP_NODES = 500
"""Nodes per import call: about 4 ms of CPU with the GIL held, plus the scan of the graph."""

STEP_PAUSE_S = 0.001
"""Sleep between two steps, so that a thread waiting for the GIL (the event loop) gets it."""

PARSE_STEP_BYTES = 256 * 1024
"""Serialized bytes per parse call: about 1.5 ms of CPU with the GIL held (upb, idle core)."""

_COLOCATION_ATTR = "_class"
_COLOCATION_PREFIX = b"loc:@"


def load_saved_model(
    session: tf.compat.v1.Session,
    tags: Sequence[str],
    export_dir: str,
    *,
    restore_pool: int | None = None,
) -> meta_graph_pb2.MetaGraphDef:
    """Loads the meta graph tagged ``tags`` into ``session`` (see the module docstring).

    ``restore_pool``: the index of the session's inter-op pool (``session_inter_op_thread_pool``)
    that restores the variables and runs the init op; None: the session's default pool.
    """
    loader = _SteppedLoader(export_dir)
    runner: tf.compat.v1.Session | _PoolSession = session
    if restore_pool is not None:
        runner = _PoolSession(session, restore_pool)
    with session.graph.as_default():
        saver, _ = loader.load_graph(session.graph, list(tags))
        loader.restore_variables(runner, saver)
        loader.run_init_ops(runner, list(tags))
    return loader.get_meta_graph_def_from_tags(list(tags))


class _PoolSession:
    """The session as TF's restore and init-op code uses it, running in one inter-op pool."""

    def __init__(self, session: tf.compat.v1.Session, pool: int) -> None:
        self.graph = session.graph
        self._session = session
        self._pool = pool

    def run(
        self,
        fetches: object,
        feed_dict: object = None,
        options: config_pb2.RunOptions | None = None,
        run_metadata: object = None,
    ) -> object:
        in_pool = config_pb2.RunOptions()
        if options is not None:
            in_pool.CopyFrom(options)
        in_pool.inter_op_thread_pool = self._pool
        return self._session.run(fetches, feed_dict, options=in_pool, run_metadata=run_metadata)


class _SteppedLoader(
    loader_impl.SavedModelLoader
):  # TF is untyped (subclassing Any is allowed: pyproject.toml)
    """TF's SavedModel loader, parsing ``saved_model.pb`` and importing the graph in steps."""

    def __init__(self, export_dir: str) -> None:
        path = file_io.join(export_dir, constants.SAVED_MODEL_FILENAME_PB)
        if not file_io.file_exists(path):  # a saved_model.pbtxt: TF's own parse
            super().__init__(export_dir)
            return
        # What TF's own __init__ sets, with the file parsed by parse_in_steps.
        self._export_dir = export_dir
        self._variables_path = path_helpers.get_variables_path(export_dir)
        with file_io.FileIO(path, "rb") as file:
            data = file.read()
        self._saved_model = saved_model_pb2.SavedModel()
        try:
            parse_in_steps(self._saved_model, data)
        except message.DecodeError as error:
            raise OSError(f"Cannot parse file {path}: {error}.") from error

    def load_graph(
        self,
        graph: tf.Graph,
        tags: list[str],
        import_scope: str | None = None,
        **saver_kwargs: object,
    ) -> tuple[tf.compat.v1.train.Saver | None, None]:
        if import_scope or saver_kwargs or sys.byteorder == "big":  # not what a server loads
            return super().load_graph(graph, tags, import_scope, **saver_kwargs)  # type: ignore[no-any-return]
        return import_meta_graph_in_steps(graph, self.get_meta_graph_def_from_tags(tags)), None


def import_meta_graph_in_steps(
    graph: tf.Graph, meta_graph_def: meta_graph_pb2.MetaGraphDef
) -> tf.compat.v1.train.Saver | None:
    """Imports ``meta_graph_def`` into ``graph`` in steps; returns its Saver (None if none)."""
    graph_def = meta_graph_def.graph_def
    producer_ops = (
        meta_graph_def.meta_info_def.stripped_op_list
        if meta_graph_def.meta_info_def.HasField("stripped_op_list")
        else None
    )
    rest = meta_graph_pb2.MetaGraphDef()
    for field, value in meta_graph_def.ListFields():
        if field.name != "graph_def":
            getattr(rest, field.name).MergeFrom(value)  # a message, a map or a list
    rest.graph_def.versions.CopyFrom(graph_def.versions)
    with graph.as_default():
        for step in _steps(graph_def):
            _import_step(graph, step, producer_ops)
            collect_young_objects()
            time.sleep(STEP_PAUSE_S)
        saver, _ = tf_saver._import_meta_graph_with_return_elements(rest)  # noqa: SLF001 - the loader's own import, minus its nodes
        collect_young_objects()
    return saver


def collect_young_objects() -> None:
    """Collects the collector's two young generations now, in this (the load's) thread.

    Why: an import creates Python objects for every node (an ``Operation``, its
    ``Tensor`` objects, their attributes), and they stay in the young generations until
    a collection promotes them. Left to the collector, the next middle-generation
    collection ran in whichever thread allocated at that moment (the event loop, serving
    a request) and walked the whole graph, with the GIL held: 55-61 ms during the
    bench's load (``bench/load_stall.py``, a 13,500-node graph). Collected after each
    step, each collection walks about one step's objects (at most 5-6 ms in that bench,
    in the load's thread) and moves them to the oldest generation, which only a full
    collection walks. A disabled collector stays disabled.
    """
    if gc.isenabled():
        gc.collect(1)


def parse_in_steps(target: message.Message, data: bytes | memoryview) -> None:
    """``target.MergeFromString(data)``, in calls of about ``PARSE_STEP_BYTES`` each.

    Why: one ``ParseFromString`` of a SavedModel holds the GIL from start to end (40-55 ms
    for the bench's 2.3 MB file on a busy core, ``bench/load_stall.py``). Protobuf merges
    concatenated serializations: parsing a run of whole fields, then the next run, builds
    the same message as one parse. So the fields are found with protobuf's own varint
    decoder and merged a run at a time, with the GIL free between runs; a message field
    larger than a step (the meta graph, its GraphDef) is merged into its sub-message the
    same way, field by field. What cannot be split (a single large scalar, bytes or map
    entry, a group) goes in one call. Data that does not scan as fields is parsed whole,
    so that the error is protobuf's own ``DecodeError``.
    """
    view = memoryview(data)
    try:
        fields = list(_fields(view))
    except (IndexError, ValueError):  # truncated or malformed: protobuf names the error
        target.MergeFromString(data)
        return
    by_number = target.DESCRIPTOR.fields_by_number
    run_start = run_end = 0
    for number, payload_start, end in fields:
        field = by_number.get(number)
        if end - payload_start <= PARSE_STEP_BYTES or not _splittable(field, payload_start):
            if end - run_start > PARSE_STEP_BYTES and run_end > run_start:
                target.MergeFromString(view[run_start:run_end])
                time.sleep(0)  # the GIL goes to whoever waits for it
                run_start = run_end
            run_end = end
            continue
        if run_end > run_start:
            target.MergeFromString(view[run_start:run_end])
        assert field is not None
        value = getattr(target, field.name)
        sub = value.add() if field.is_repeated else value
        parse_in_steps(sub, view[payload_start:end])
        run_start = run_end = end
    if run_end > run_start:
        target.MergeFromString(view[run_start:run_end])


def _splittable(field: FieldDescriptor | None, payload_start: int) -> bool:
    """A known, length-delimited message field other than a map (``payload_start`` > 0)."""
    return (
        field is not None
        and payload_start > 0
        and field.type == FieldDescriptor.TYPE_MESSAGE
        and not field.message_type.GetOptions().map_entry
    )


_WIRE_VARINT, _WIRE_FIXED64, _WIRE_DELIMITED, _WIRE_FIXED32 = 0, 1, 2, 5


def _fields(data: memoryview) -> Iterator[tuple[int, int, int]]:
    """(field number, payload start, end) of each top-level field of a serialized message.

    The payload start is 0 for a field that is not length-delimited. ValueError or
    IndexError: the data is not a sequence of fields (a group is refused too).
    """
    position, size = 0, len(data)
    while position < size:
        tag, position = decoder._DecodeVarint(data, position)  # noqa: SLF001 - protobuf's own varint reader
        wire_type = tag & 7
        payload_start = 0
        if wire_type == _WIRE_VARINT:
            _, end = decoder._DecodeVarint(data, position)  # noqa: SLF001
        elif wire_type == _WIRE_FIXED64:
            end = position + 8
        elif wire_type == _WIRE_FIXED32:
            end = position + 4
        elif wire_type == _WIRE_DELIMITED:
            length, payload_start = decoder._DecodeVarint(data, position)  # noqa: SLF001
            end = payload_start + length
        else:
            raise ValueError(f"wire type {wire_type}")
        if end > size or tag >> 3 == 0:
            raise ValueError("truncated")
        yield tag >> 3, payload_start, end
        position = end


def _import_step(graph: tf.Graph, step: graph_pb2.GraphDef, producer_ops: object | None) -> None:
    """One import call; an input from an earlier step maps onto what the graph holds.

    A data input maps onto the tensor, a control input onto the op's first output. A
    control input from an op without outputs (a NoOp, an AssignVariableOp) cannot be
    mapped: the node goes in without it, and the edge is added once the node is in.
    """
    inside = {node.name for node in step.node}
    input_map: dict[str, tf.Tensor] = {}
    added_later: dict[str, list[tf.Operation]] = {}
    for position, node in enumerate(step.node):
        kept: list[str] = []
        for name in node.input:
            source, index, control = _parse_input(name)
            found = None if source in inside else _operation(graph, source)
            if found is None or (not control and index >= len(found.outputs)):
                # In this step, or nowhere (then TF's import names the error).
                kept.append(name)
            elif not control:
                input_map.setdefault(f"{source}:{index}", found.outputs[index])
                kept.append(name)
            elif found.outputs:
                input_map.setdefault(f"^{source}", found.outputs[0])
                kept.append(name)
            else:
                added_later.setdefault(node.name, []).append(found)
        if node.name in added_later:
            del step.node[position].input[:]
            step.node[position].input.extend(kept)
    tf.graph_util.import_graph_def(
        step, input_map=input_map or None, name="", producer_op_list=producer_ops
    )
    for name, control_inputs in added_later.items():
        graph.get_operation_by_name(name)._add_control_inputs(control_inputs)  # noqa: SLF001 - TF's own way to add an edge


def _operation(graph: tf.Graph, name: str) -> tf.Operation | None:
    try:
        return graph.get_operation_by_name(name)
    except KeyError:
        return None


def _steps(graph_def: graph_pb2.GraphDef) -> Iterator[graph_pb2.GraphDef]:
    """The GraphDefs to import one after the other (see the module docstring)."""
    if len(graph_def.node) <= STEP_NODES:
        yield graph_def
        return
    groups = _groups(list(graph_def.node))  # a list: indexing a proto field is slow
    step = _new_step(graph_def, with_library=True)
    for group in groups:
        if len(step.node) + len(group) > STEP_NODES and len(step.node):
            yield step
            step = _new_step(graph_def, with_library=False)
        step.node.extend(group)
    yield step


def _new_step(graph_def: graph_pb2.GraphDef, *, with_library: bool) -> graph_pb2.GraphDef:
    step = graph_pb2.GraphDef()
    step.versions.CopyFrom(graph_def.versions)
    if with_library:
        step.library.CopyFrom(graph_def.library)
    return step


def _groups(nodes: Sequence[node_def_pb2.NodeDef]) -> list[list[node_def_pb2.NodeDef]]:
    """The nodes in groups that can be imported one after another, in that order."""
    index = {node.name: i for i, node in enumerate(nodes)}
    parent = list(range(len(nodes)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def join(a: int, b: int) -> None:
        parent[root(a)] = root(b)

    for i, node in enumerate(nodes):
        scope = node.name.rpartition("/")[0]
        while scope:  # "a/b" goes with "a/b/c": TF renames a node whose name is a taken scope
            other = index.get(scope)
            if other is not None:
                join(i, other)
                break  # "a" joined "a/b" already, when "a/b" was seen
            scope = scope.rpartition("/")[0]
        if _COLOCATION_ATTR in node.attr:
            for name in node.attr[_COLOCATION_ATTR].list.s:
                if name.startswith(_COLOCATION_PREFIX):
                    other = index.get(name[len(_COLOCATION_PREFIX) :].decode())
                    if other is not None:
                        join(i, other)
    members: dict[int, list[int]] = collections.defaultdict(list)
    for i in range(len(nodes)):
        members[root(i)].append(i)
    # Kahn's algorithm over groups, in the GraphDef's own order where free to choose.
    needs: dict[int, set[int]] = {group: set() for group in members}
    users: dict[int, list[int]] = collections.defaultdict(list)
    for group, ids in members.items():
        for i in ids:
            for name in nodes[i].input:
                other = index.get(_parse_input(name)[0])
                if other is None:
                    continue
                source = root(other)
                if source != group and source not in needs[group]:
                    needs[group].add(source)
                    users[source].append(group)
    ready = collections.deque(sorted(g for g, n in needs.items() if not n))
    ordered: list[int] = []
    while ready:
        group = ready.popleft()
        ordered.append(group)
        for user in users[group]:
            needs[user].discard(group)
            if not needs[user]:
                ready.append(user)
    placed = set(ordered)
    groups = [[nodes[i] for i in members[g]] for g in ordered]
    leftover = [nodes[i] for g in members if g not in placed for i in members[g]]
    if leftover:  # a cycle: one last step with it and everything that depends on it
        groups.append(leftover)
    return groups


def _parse_input(name: str) -> tuple[str, int, bool]:
    """``"^op"``, ``"op"`` or ``"op:2"`` as (op name, output index, control edge)."""
    if name.startswith("^"):
        return name[1:], 0, True
    source, _, index = name.partition(":")
    return source, int(index) if index else 0, False
