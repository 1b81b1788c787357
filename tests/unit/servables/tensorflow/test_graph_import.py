"""A SavedModel loaded in steps is the graph TensorFlow's own loader builds.

(And the restore can run in its own inter-op pool: ``saved_model.with_load_pool``.)

Each test loads one SavedModel twice, once with ``tf.compat.v1.saved_model.loader.load``
and once with ``load_saved_model`` (``STEP_NODES`` and ``PARSE_STEP_BYTES`` lowered so that
even the small test models are parsed and imported in many steps), and compares every node (op, inputs in order, device, attrs),
every collection and the signature's answer.
"""

from __future__ import annotations

import gc
import shutil
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import struct_pb2, text_format, wrappers_pb2
from tensorflow.core.protobuf import config_pb2, saved_model_pb2

from servables.tensorflow import graph_import
from servables.tensorflow.graph_import import load_saved_model
from servables.tensorflow.saved_model import (
    INFERENCE_POOL_NAME,
    LOAD_POOL_NAME,
    lower_load_pool_priority,
    with_load_pool,
)
from tests.integration import server_process
from tests.tf1_models import save_predict_model

NodeKey = tuple[str, tuple[str, ...], str, tuple[tuple[str, bytes], ...]]


def _graph_summary(
    session: tf.compat.v1.Session, meta_graph: tf.compat.v1.MetaGraphDef, feed: np.ndarray
) -> tuple[dict[str, NodeKey], dict[str, list[str]], list[np.ndarray]]:
    graph = session.graph
    nodes = {
        node.name: (
            node.op,
            tuple(node.input),
            node.device,
            tuple(
                sorted((k, v.SerializeToString(deterministic=True)) for k, v in node.attr.items())
            ),
        )
        for node in graph.as_graph_def().node
    }
    collections = {
        key: [getattr(item, "name", str(item)) for item in graph.get_collection(key)]
        for key in graph.get_all_collection_keys()
    }
    signature = meta_graph.signature_def["serving_default"]
    (x,) = signature.inputs.values()
    outputs = [tensor.name for tensor in signature.outputs.values()]
    return nodes, collections, session.run(outputs, {x.name: feed})


def _both_ways(export_dir: Path, feed: np.ndarray) -> None:
    expected = tf.compat.v1.Session(graph=tf.Graph())
    with expected.graph.as_default():
        meta = tf.compat.v1.saved_model.loader.load(expected, ["serve"], str(export_dir))
    stepped = tf.compat.v1.Session(graph=tf.Graph())
    stepped_meta = load_saved_model(stepped, ("serve",), str(export_dir))
    # TF's own import also strips default attrs from the returned GraphDef in place.
    assert stepped_meta.signature_def == meta.signature_def
    assert stepped_meta.collection_def == meta.collection_def
    want_nodes, want_collections, want_outputs = _graph_summary(expected, meta, feed)
    got_nodes, got_collections, got_outputs = _graph_summary(stepped, stepped_meta, feed)
    assert got_nodes == want_nodes
    assert got_collections == want_collections
    for got, want in zip(got_outputs, want_outputs, strict=True):
        np.testing.assert_array_equal(got, want)


@pytest.fixture
def testdata() -> Path:
    return server_process.testdata_dir()


@pytest.fixture(autouse=True)
def small_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(graph_import, "STEP_NODES", 5)
    monkeypatch.setattr(graph_import, "PARSE_STEP_BYTES", 64)


def test_a_tf1_model_with_reference_variables_and_a_saver(testdata: Path) -> None:
    _both_ways(
        testdata / "saved_model_half_plus_two_2_versions" / "00000123",
        np.array([[1.0], [2.0]], np.float32),
    )


def test_a_tf2_model_with_a_function_library(testdata: Path) -> None:
    _both_ways(
        testdata / "saved_model_half_plus_two_tf2_cpu" / "00000123",
        np.array([2.0], np.float32),
    )


def test_resource_variables_a_while_loop_and_nested_scopes(tmp_path: Path) -> None:
    """AssignVariableOps (no outputs) under control edges, a cycle, "a/b" beside "a/b/c"."""
    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        x = v1.placeholder(tf.float32, [None, 3], name="x")
        h = x
        for i in range(4):
            w = v1.get_variable(f"layer_{i}/w", [3, 3], tf.float32, use_resource=True)
            h = tf.nn.relu(tf.matmul(h, w), name=f"layer_{i}")
        with v1.variable_scope("layer_0"):
            h = tf.identity(h, name="relu")  # "layer_0/relu" beside the op "layer_0"
        _, y = tf.while_loop(
            lambda i, acc: i < 3, lambda i, acc: (i + 1, acc * 0.5), [tf.constant(0), h]
        )
        y = tf.identity(y, name="y")
        with v1.Session(graph=graph) as session:
            session.run(v1.global_variables_initializer())
            save_predict_model(session, tmp_path / "1", {"x": x}, {"y": y})
    _both_ways(tmp_path / "1", np.ones((2, 3), np.float32))


def test_restore_and_init_ops_can_run_in_a_pool_of_their_own(testdata: Path) -> None:
    config, pool = with_load_pool(config_pb2.ConfigProto())
    assert pool == 1
    assert [p.global_name for p in config.session_inter_op_thread_pool] == [
        INFERENCE_POOL_NAME,
        LOAD_POOL_NAME,
    ]
    assert config.session_inter_op_thread_pool[1].num_threads == 1
    session = tf.compat.v1.Session(graph=tf.Graph(), config=config)
    export_dir = testdata / "saved_model_half_plus_two_2_versions" / "00000123"
    meta = load_saved_model(session, ("serve",), str(export_dir), restore_pool=pool)
    _, _, outputs = _graph_summary(session, meta, np.array([[4.0]], np.float32))
    assert [float(np.ravel(o)[0]) for o in outputs] == [4.0]  # 4 / 2 + 2
    if Path("/proc/self/task").is_dir():  # Linux: the load pool's one thread runs reniced
        assert lower_load_pool_priority(pool) >= 1


@pytest.mark.parametrize(
    "chosen",
    [
        "use_per_session_threads: true",
        "inter_op_parallelism_threads: -1",
        'session_inter_op_thread_pool { num_threads: 2 global_name: "mine" }',
    ],
)
def test_a_config_that_chose_its_own_pools_is_kept(chosen: str) -> None:
    config = text_format.Parse(chosen, config_pb2.ConfigProto())
    assert with_load_pool(config) == (config, None)


@pytest.mark.parametrize("bad_input", ["c3:7", "missing"])
def test_an_input_naming_no_tensor_fails_with_tfs_own_error(bad_input: str) -> None:
    graph = tf.Graph()
    with graph.as_default():
        for i in range(8):
            tf.constant(float(i), name=f"c{i}")
        meta_graph = tf.compat.v1.train.export_meta_graph(graph=graph)
    broken = meta_graph.graph_def.node.add(name="broken", op="Identity", input=[bad_input])
    broken.attr["T"].type = tf.float32.as_datatype_enum
    with pytest.raises(ValueError, match="broken"):
        graph_import.import_meta_graph_in_steps(tf.Graph(), meta_graph)


def test_the_imported_operations_leave_the_young_generations_with_the_import() -> None:
    source = tf.Graph()
    with source.as_default():
        total = tf.constant(0.0, name="c0")
        for i in range(1, 40):
            total = tf.add(total, float(i), name=f"add{i}")
        meta_graph = tf.compat.v1.train.export_meta_graph(graph=source)
    graph = tf.Graph()
    graph_import.import_meta_graph_in_steps(graph, meta_graph)
    imported = {id(op) for op in graph.get_operations()}
    assert len(imported) == len(meta_graph.graph_def.node)
    young = [o for generation in (0, 1) for o in gc.get_objects(generation) if id(o) in imported]
    assert young == []


@pytest.mark.parametrize(
    "model",
    [
        "saved_model_half_plus_two_2_versions/00000123",
        "saved_model_half_plus_two_tf2_cpu/00000123",
    ],
)
def test_a_saved_model_parsed_in_steps_is_the_one_parsed_at_once(
    testdata: Path, model: str
) -> None:
    data = (testdata / model / "saved_model.pb").read_bytes()
    want = saved_model_pb2.SavedModel.FromString(data)
    got = saved_model_pb2.SavedModel()
    graph_import.parse_in_steps(got, data)
    assert got == want
    assert got.SerializeToString(deterministic=True) == want.SerializeToString(deterministic=True)


def test_a_truncated_saved_model_fails_as_tfs_loader_fails(testdata: Path, tmp_path: Path) -> None:
    data = (testdata / "saved_model_half_plus_two_2_versions/00000123/saved_model.pb").read_bytes()
    (tmp_path / "saved_model.pb").write_bytes(data[: len(data) // 2])
    with pytest.raises(OSError, match=r"Cannot parse file .*saved_model\.pb: "):
        load_saved_model(tf.compat.v1.Session(graph=tf.Graph()), ("serve",), str(tmp_path))


def test_every_wire_type_survives_a_parse_in_steps() -> None:
    inner = struct_pb2.ListValue()
    for i in range(20):
        inner.values.add(number_value=i + 0.5)  # fixed64
        inner.values.add(bool_value=bool(i % 2))  # varint
        inner.values.add(string_value=f"s{i}")  # length-delimited
    outer = struct_pb2.ListValue()
    for _ in range(3):
        outer.values.add(list_value=inner)
        outer.values.add(struct_value={"kept": "whole", "a map": 1.0})  # a map: one piece
    for message_type, value in (
        (struct_pb2.ListValue, outer),
        (wrappers_pb2.FloatValue, wrappers_pb2.FloatValue(value=1.5)),  # fixed32
    ):
        got = message_type()
        graph_import.parse_in_steps(got, value.SerializeToString())
        assert got == value


def test_a_saved_model_pbtxt_is_parsed_by_tfs_own_loader(testdata: Path, tmp_path: Path) -> None:
    source = testdata / "saved_model_half_plus_two_2_versions" / "00000123"
    shutil.copytree(source, tmp_path / "1", ignore=shutil.ignore_patterns("saved_model.pb"))
    saved_model = saved_model_pb2.SavedModel.FromString((source / "saved_model.pb").read_bytes())
    (tmp_path / "1" / "saved_model.pbtxt").write_text(text_format.MessageToString(saved_model))
    _both_ways(tmp_path / "1", np.array([[1.0], [2.0]], np.float32))
