"""What the bench measures, declared once: models, servers, scenarios, and one spec per table.

Everything else reads this module: ``bench.run`` measures the scenarios the selected tables
list (each once, however many tables show it) and ``bench.tables`` renders each table from
its spec. The server under test is always ``server.py`` started with flags
(``SERVERS``); the references are the bare framework floors (``FLOORS``, see
``bench.floor_server``) and the model called in-process (``bench.inprocess``).

A ``Scenario`` whose ``reference`` is a floor is measured interleaved with that floor (floor
run, server run, floor run, ...), so the noise of a shared machine hits both sides of the
ratio alike. A CNN request is byte for byte a digits request, so CNN rows compare with the
digits floor.

Protocols (``PROTOCOLS``): TF Serving's API (``grpc`` Predict, ``rest`` ``/v1`` predict in
row format) and the Open Inference Protocol (``v2grpc`` ModelInfer with
``raw_input_contents``, ``v2rest`` ``/v2/.../infer`` with the binary tensor extension for
inputs and outputs, ``v2json`` the same with JSON ``data``). A V2 scenario's floor is the
same floor server answering the same V2 request (it parses it as it parses a Predict), and
its ``tf_counterpart`` is the TF Serving API scenario of the same server, transport, payload
and load: scenarios that share a transport are measured interleaved (``bench.measure``).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"
OUT = BENCH / "out"
MODELS = OUT / "models"
MODEL_CONFIG = OUT / "models.config"
MONITORING_CONFIG = BENCH / "monitoring.pbtxt"
TESTDATA = Path(os.environ.get("AIOSERVING_TESTDATA", "/work/shared/testdata"))


@dataclasses.dataclass(frozen=True, slots=True)
class Model:
    name: str
    base_path: Path
    input_name: str
    width: int  # floats per example


HALF_PLUS_TWO = Model("half_plus_two", TESTDATA / "saved_model_half_plus_two_cpu", "x", 1)
DIGITS = Model("digits", MODELS / "digits", "images", 784)  # examples.export_digits, v2
CNN = Model("cnn", MODELS / "cnn", "images", 784)  # bench.prepare.export_cnn, ~24 MFLOP/image
ALL_MODELS = (DIGITS, CNN, HALF_PLUS_TWO)


@dataclasses.dataclass(frozen=True, slots=True)
class Payload:
    model: Model
    rows: int

    @property
    def name(self) -> str:
        return f"{self.model.name}-{self.rows}"

    def file(self, suffix: str) -> Path:
        """``grpc`` (serialized PredictRequest), ``json`` (REST body), ``v2grpc`` (serialized
        ModelInferRequest), ``v2rest`` (JSON header + binary), ``v2rest_length`` (its
        ``Inference-Header-Content-Length``), ``v2json``; ``PROTOCOL_response`` for answers."""
        return OUT / "payloads" / f"{self.name}.{suffix}"


SINGLE, HUNDRED = Payload(DIGITS, 1), Payload(DIGITS, 100)
CNN_SINGLE, HP2_SINGLE = Payload(CNN, 1), Payload(HALF_PLUS_TWO, 1)
PAYLOADS = (SINGLE, HUNDRED, CNN_SINGLE, HP2_SINGLE)

# Real-server configurations: flags besides the model config, monitoring and ports.
_BATCHING = ("--enable_batching", f"--batching_parameters_file={BENCH / 'batching.pbtxt'}")
TF_FLAGS = {
    "default": (),
    "tf1": ("--tensorflow_intra_op_parallelism=1", "--tensorflow_inter_op_parallelism=1"),
    "tfcaller": (f"--tensorflow_session_config_file={BENCH / 'session_inline.pbtxt'}",),
}
SERVERS: dict[str, tuple[str, ...]] = {
    "off": (),
    "on": _BATCHING,
    "on-2threads": (
        "--enable_batching",
        f"--batching_parameters_file={BENCH / 'batching_2threads.pbtxt'}",
    ),
    "on-tf1": _BATCHING + TF_FLAGS["tf1"],
    "on-tfcaller": _BATCHING + TF_FLAGS["tfcaller"],
}
FLOORS: dict[str, tuple[str, ...]] = {
    "floor-orjson": ("--codec=orjson",),
    "floor-json": ("--codec=json",),
    "floor+model-inline": ("--codec=orjson", "--model=digits", "--call=inline"),
    "floor+model-executor": ("--codec=orjson", "--model=digits", "--call=executor"),
}
FLOOR = "floor-orjson"

# Protocol -> (transport, label in the tables).
PROTOCOLS: dict[str, tuple[str, str]] = {
    "grpc": ("grpc", "gRPC"),
    "rest": ("rest", "REST"),
    "v2grpc": ("grpc", "V2 gRPC raw"),
    "v2rest": ("rest", "V2 REST binary"),
    "v2json": ("rest", "V2 REST JSON"),
}
REQUEST_SUFFIX = {"grpc": "grpc", "rest": "json", "v2grpc": "v2grpc", "v2rest": "v2rest",
                  "v2json": "v2json"}  # fmt: skip


def transport(protocol: str) -> str:
    """``grpc`` or ``rest``: the port, the load generator and the interleaving group."""
    return PROTOCOLS[protocol][0]


def tf_variant(server: str) -> str:
    """The ``TF_FLAGS`` key a server configuration uses (its name's suffix)."""
    suffix = server.rpartition("-")[2]
    return suffix if suffix in TF_FLAGS else "default"


@dataclasses.dataclass(frozen=True, slots=True)
class Scenario:
    """One server, protocol, payload and concurrency; ``reference`` is measured beside it."""

    server: str  # a SERVERS or FLOORS key
    protocol: str  # a PROTOCOLS key
    payload: Payload
    concurrency: int
    reference: str = FLOOR  # "" = no interleaved floor
    client: str = ""  # "build": the Python client that builds every request (seed bench)
    requests: int = 0  # a fixed number of calls instead of a duration

    @property
    def id(self) -> str:
        extra = f"/{self.client}{self.requests or ''}" if self.client else ""
        return f"{self.server}/{self.protocol}/{self.payload.name}/c{self.concurrency}{extra}"

    @property
    def is_floor(self) -> bool:
        return self.server in FLOORS

    def floor(self) -> Scenario | None:
        if not self.reference:
            return None
        payload = SINGLE if self.payload.model is CNN else self.payload
        return Scenario(self.reference, self.protocol, payload, self.concurrency, reference="")

    def tf_counterpart(self) -> Scenario | None:
        """The same scenario over TF Serving's API; None for a TF Serving API scenario."""
        if self.protocol == transport(self.protocol):
            return None
        return dataclasses.replace(self, protocol=transport(self.protocol))


def grid(
    servers: Sequence[str], protocols: Sequence[str], payloads: Sequence[Payload], cs: Sequence[int]
) -> tuple[Scenario, ...]:
    """Every combination; floors are references themselves, servers refer to ``FLOOR``."""
    return tuple(
        Scenario(s, p, payload, c, "" if s in FLOORS else FLOOR)
        for s in servers
        for p in protocols
        for payload in payloads
        for c in cs
    )


@dataclasses.dataclass(frozen=True, slots=True)
class Table:
    """A section of RESULTS.md: ``kind`` picks the renderer, ``rows`` what it shows."""

    title: str
    note: str
    kind: str  # a ``bench.tables.RENDERERS`` key
    rows: tuple[Scenario, ...] = ()
    columns: tuple[str, ...] = ()  # ``bench.tables.COLUMNS`` keys


@dataclasses.dataclass(frozen=True, slots=True)
class Check:
    """One of issue 3's targets: a scenario, what is compared, and the bound."""

    text: str
    scenario: Scenario
    measure: str  # "x_floor" | "p99_floor" | "p50_floor" | "images" | "x_limit"
    bound: float


@dataclasses.dataclass(frozen=True, slots=True)
class InProcess:
    """A compute-limit reference: ``model`` called in-process at each batch size."""

    model: Model
    sizes: tuple[int, ...]
    hop_sizes: tuple[int, ...] = (1,)
    tf: str = "default"  # a TF_FLAGS key


SIDES = ("grpc", "rest")
DIGITS_MATRIX = grid(("off", "on"), SIDES, (SINGLE, HUNDRED), (1, 16, 64))
REQUEST_PATH = grid(("off", "on"), SIDES, (SINGLE,), (1, 64))
CNN_ROWS = (
    grid(("off",), ("grpc",), (CNN_SINGLE,), (1, 64))
    + grid(("on", "on-2threads", "on-tf1", "on-tfcaller"), ("grpc",), (CNN_SINGLE,), (64,))
    + grid(("on",), ("grpc",), (CNN_SINGLE,), (16,))
)
VARIANTS = grid(("on-2threads", "on-tf1", "on-tfcaller"), ("grpc",), (SINGLE,), (64,))
STAGES = tuple(  # each row compared with the bare floor of the same load
    Scenario(server, p, SINGLE, c, "" if server == FLOOR else FLOOR)
    for p in SIDES
    for c in (1, 64)
    for server in (FLOOR, "floor+model-inline", "floor+model-executor", "off", "on")
)
V2_SIDES = ("grpc", "v2grpc", "rest", "v2rest", "v2json")
V2_ROWS = grid((FLOOR, "off", "on"), V2_SIDES, (SINGLE,), (1, 64))
SEED = (Scenario("on", "grpc", HUNDRED, 16, "", client="build", requests=1000),)
EXTRA_FLOORS = (
    Scenario("floor-json", "rest", SINGLE, 64, ""),
    Scenario("floor-json", "rest", HUNDRED, 16, ""),
)

CHECKS = (
    *(Check(f"gRPC single, batching on, c{c} ≥ 0.85× floor", s, "x_floor", 0.85)
      for c, s in ((16, Scenario("on", "grpc", SINGLE, 16)), (64, Scenario("on", "grpc", SINGLE, 64)))),
    Check("p99 at c64 ≤ 1.5× floor p99", Scenario("on", "grpc", SINGLE, 64), "p99_floor", 1.5),
    *(Check(f"REST single, c{c} ≥ 0.7× floor", Scenario(s, "rest", SINGLE, c), "x_floor", 0.7)
      for s in ("on", "off") for c in (16, 64)),
    *(Check("c1 p50 ≤ floor p50 + 0.25 ms", Scenario(s, p, SINGLE, 1), "p50_floor", 0.25)
      for p in SIDES for s in ("off", "on")),
    *(Check(f"100-image requests ≥ {n:,} images/s {p} (off / on)", Scenario(s, p, HUNDRED, c),
            "images", n)
      for p, n in (("grpc", 26_000), ("rest", 7_700)) for c in (1, 16, 64) for s in ("off", "on")),
    *(Check("CNN batching on, c64 ≥ 0.8× in-process at the formed batch",
            Scenario(s, "grpc", CNN_SINGLE, 64) , "x_limit", 0.8)
      for s in ("on", "on-2threads", "on-tf1", "on-tfcaller")),
)  # fmt: skip

IN_PROCESS = (
    InProcess(DIGITS, (1, 2, 4, 8, 16, 32, 64, 100), (1, 100)),
    InProcess(CNN, (1, 2, 4, 8, 16, 32, 64)),
    InProcess(HALF_PLUS_TWO, (1, 64)),
    InProcess(DIGITS, (1, 8, 64, 100), (1, 100), tf="tfcaller"),
    InProcess(CNN, (1, 4, 16, 64), tf="tf1"),
)


def columns(header: str) -> tuple[str, ...]:
    """Table columns written as their markdown header; keys of ``bench.tables.COLUMNS``."""
    return tuple(header.split("|"))


_C = "config|API|payload|c|examples/s|req/s|p50 ms|p99 ms"
SCENARIO_COLUMNS = columns(
    f"{_C}|× floor|p50 − floor ms|p99 ÷ floor|batch mean/max|limit ex/s|× limit|CPU µs/req|"
    "server CPU %|gen CPU %|noise %|generator"
)
REQUEST_PATH_COLUMNS = columns(
    "config|API|c|req/s|floor req/s|× floor|p50 ms|floor p50 ms|p50 − floor ms|p99 ms|"
    "batch mean/max|CPU µs/req|noise %|generator"
)
FLOOR_COLUMNS = columns(f"{_C}|runs|CPU µs/req|server CPU %|gen CPU %|noise %|generator")
SEED_COLUMNS = columns(f"{_C}|server CPU %|gen CPU %|noise %|generator")
V2_COLUMNS = columns(
    "config|API|c|req/s|× TF API|p50 ms|p50 − TF API ms|p99 ms|floor req/s|× floor|"
    "p50 − floor ms|batch mean/max|CPU µs/req|noise %|generator"
)
STAGE_COLUMNS = columns("API|c|stage|req/s|p50 ms|p50 − floor ms|CPU µs/req|+CPU µs/req")
FLAGS = Table("Server flags per configuration", "", "flags")
FULL = (
    Table("Issue 3 targets", "", "targets", tuple(c.scenario for c in CHECKS)),
    Table("Request path (single-example digits, c1 p50 and c64 req/s)", "", "scenarios",
          REQUEST_PATH, REQUEST_PATH_COLUMNS),
    Table("Digits model (the seed benchmark's model)", "", "scenarios", DIGITS_MATRIX,
          SCENARIO_COLUMNS),
    Table("CNN (compute-heavy)", "Floor columns compare with the digits floor: a CNN request "
          "and answer are the same bytes.", "scenarios", CNN_ROWS, SCENARIO_COLUMNS),
    Table("Open Inference Protocol (V2) beside TF Serving's API (single-example digits)",
          "`V2 gRPC raw` = `inference.GRPCInferenceService/ModelInfer` with `raw_input_contents` "
          "(answers in `raw_output_contents`); `V2 REST binary` = `POST /v2/models/digits/infer` "
          "with the binary tensor extension (`binary_data_size`, `Inference-Header-Content-Length`"
          ", `binary_data_output: true`); `V2 REST JSON` = the same with JSON `data` and a JSON "
          "answer. *× TF API* = req/s ÷ the TF Serving API row of the same config, transport and "
          "c (gRPC Predict, REST `/v1` predict), measured interleaved with it; *× floor* compares "
          "with the bare floor answering the same protocol's request (`floor-orjson` rows: V2 "
          "floor ÷ TF Serving API floor).", "scenarios", V2_ROWS, V2_COLUMNS),
    Table("half_plus_two", "", "scenarios", grid(("off", "on"), SIDES, (HP2_SINGLE,), (64,)),
          SCENARIO_COLUMNS),
    Table("Digits model under server variants", "`tf1` = `--tensorflow_intra_op_parallelism=1 "
          "--tensorflow_inter_op_parallelism=1`; `tfcaller` = `bench/session_inline.pbtxt` "
          "(`inter_op_parallelism_threads: -1`, TF runs the graph in the calling thread); "
          "`2threads` = `num_batch_threads: 2`.", "scenarios", VARIANTS, SCENARIO_COLUMNS),
    Table("Python grpc.aio client (builds and serializes every request)", "`python -m "
          "bench.loadgen --build`: one channel, c workers, `tf.make_tensor_proto` per call; "
          "1000 requests of 100 images is the seed benchmark.", "scenarios", SEED, SEED_COLUMNS),
    Table("Framework floors (bare servers, no inference)", "`bench/floor_server.py` on uvloop: "
          "`floor-orjson` = grpc.aio (PredictRequest parse + `np.frombuffer`) and aiohttp "
          "(`orjson.loads` + `np.asarray`); `floor-json` = the same aiohttp floor with the "
          "standard library's `json.loads`. Each answers the real server's captured response "
          "bytes.", "floors", EXTRA_FLOORS, FLOOR_COLUMNS),
    Table("Compute limit (in-process, no server)", "`bench/inprocess.py`, pinned to CPU 0: "
          "a TF1 session as the server builds it (same session flags), its callable. "
          "*tight* = back-to-back calls on one thread; *hop* = each call sent from a uvloop "
          "loop to a worker thread with `run_in_executor` and awaited, one at a time.",
          "in_process"),
    Table("Load while serving (issue 4)", "", "spike"),
    Table("Where the time goes (this run)", "Single-example digits requests, from the bare "
          "framework floor to the full server: each row adds one thing; the differences are to "
          "the floor row of the same API and concurrency.", "scenarios", STAGES, STAGE_COLUMNS),
    Table("Notes", "", "analysis"),
    FLAGS,
)  # fmt: skip
QUICK = (FULL[1], FLAGS)
