"""What the bench measures, declared once: models, servers, scenarios, and one spec per table.

Everything else reads this module: ``bench.run`` measures the scenarios the selected tables
list (each once, however many tables show it) and ``bench.tables`` renders each table from
its spec. The server under test is always ``server.py`` started with flags
(``SERVERS``); the references are the bare framework floors (``FLOORS``, see
``bench.floor_server``) and the model called in-process (``bench.inprocess``).

A ``Scenario`` whose ``reference`` is a floor is measured interleaved with that floor (floor
run, server run, floor run, ...), so the noise of a shared machine hits both sides of the
ratio alike. A CNN request is byte for byte a digits request, so CNN rows compare with the
digits floor. A ``reference`` may also be another ``SERVERS`` config (``--workers 2``
refers to ``--workers 1`` under the same load); configs in ``UNPINNED`` run, with their
generator, without ``taskset``.

``Check``s are targets with verdicts (``ISSUE8_CHECKS`` first; ``ISSUE3_CHECKS``, those
issue 8 does not restate); ``TARGETS`` is the selection ``bench/run.sh --targets`` measures,
``QUICK`` the request path (``--quick``), ``FULL`` everything. A table's ``in_process``
names the in-process references a partial run must measure for it.

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
CNN_SINGLE, CNN_32, HP2_SINGLE = Payload(CNN, 1), Payload(CNN, 32), Payload(HALF_PLUS_TWO, 1)
PAYLOADS = (SINGLE, HUNDRED, CNN_SINGLE, CNN_32, HP2_SINGLE)

# Real-server configurations: flags besides the model config, monitoring and ports.
_BATCHING = ("--enable_batching", f"--batching_parameters_file={BENCH / 'batching.pbtxt'}")
# Batching with a latency budget the cost model can use (20 ms, batches of at most 64
# rows): a lone request still goes out at once, 64 clients fill each batch (issue 21).
_BUDGET = (
    "--enable_batching",
    f"--batching_parameters_file={BENCH / 'batching_timeout_20ms.pbtxt'}",
)
# Every call on the loop, however its cost measures (issue 21: what the thread hop costs).
_INLINE = ("--inline_call_threshold_micros=1000000",)
TF_FLAGS = {
    "default": (),
    "tf1": ("--tensorflow_intra_op_parallelism=1", "--tensorflow_inter_op_parallelism=1"),
    "tfcaller": (f"--tensorflow_session_config_file={BENCH / 'session_inline.pbtxt'}",),
}
SERVERS: dict[str, tuple[str, ...]] = {
    "off": (),
    "off-inline": _INLINE,
    "off-inline-w1": (*_INLINE, "--workers=1"),
    "off-inline-w2": (*_INLINE, "--workers=2"),
    "off-w1": ("--workers=1",),
    "off-w2": ("--workers=2",),
    "on": _BATCHING,
    "on-budget": _BUDGET,
    "on-budget-w1": (*_BUDGET, "--workers=1"),
    "on-budget-w2": (*_BUDGET, "--workers=2"),
    "on-2threads": (
        "--enable_batching",
        f"--batching_parameters_file={BENCH / 'batching_2threads.pbtxt'}",
    ),
    "on-tf1": _BATCHING + TF_FLAGS["tf1"],
    "on-tfcaller": _BATCHING + TF_FLAGS["tfcaller"],
    "on-w1": (*_BATCHING, "--workers=1"),
    "on-w2": (*_BATCHING, "--workers=2"),
    # Each worker's TF pools sized for the whole machine, as TF sizes them on 2 CPUs and as
    # --workers did before it gave each worker its share (issue 21).
    "on-w2-tf2": (
        *_BATCHING,
        "--workers=2",
        "--tensorflow_intra_op_parallelism=2",
        "--tensorflow_inter_op_parallelism=2",
    ),
    "on-w2-pin": (*_BATCHING, "--workers=2", "--worker_cpu_affinity"),
}
# Servers run unpinned, and so is the generator that loads them (``--workers`` needs both
# cores): no ``taskset`` on either side; their CPU figures sum the whole process tree.
UNPINNED = frozenset(
    {
        "on-w1",
        "on-w2",
        "on-w2-tf2",
        "on-w2-pin",
        "off-inline-w1",
        "off-inline-w2",
        "off-w1",
        "off-w2",
        "on-budget-w1",
        "on-budget-w2",
    }
)
FLOORS: dict[str, tuple[str, ...]] = {
    "floor-orjson": ("--codec=orjson",),
    "floor-json": ("--codec=json",),
    "floor+model-inline": ("--codec=orjson", "--model=digits", "--call=inline"),
    "floor+model-executor": ("--codec=orjson", "--model=digits", "--call=executor"),
    "floor+model-batched": ("--codec=orjson", "--model=digits", "--call=batched"),
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
    connections: int = 0  # gRPC connections (h2load ``-c``); 0 = ``min(c, 4)``

    @property
    def id(self) -> str:
        extra = f"/{self.client}{self.requests or ''}" if self.client else ""
        extra += f"/conn{self.connections}" if self.connections else ""
        return f"{self.server}/{self.protocol}/{self.payload.name}/c{self.concurrency}{extra}"

    @property
    def is_floor(self) -> bool:
        return self.server in FLOORS

    @property
    def grpc_connections(self) -> int:
        """The HTTP/2 connections h2load opens."""
        return self.connections or min(self.concurrency, 4)

    @property
    def pinned(self) -> bool:
        return self.server not in UNPINNED

    def floor(self) -> Scenario | None:
        """The reference measured interleaved with this scenario: a floor (a CNN row reads
        the single-example digits floor) or, for a ``SERVERS`` reference, that server under
        the same load."""
        if not self.reference:
            return None
        if self.reference in SERVERS:
            return dataclasses.replace(self, server=self.reference, reference="")
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
    checks: tuple[Check, ...] = ()  # kind "targets": the checks (``rows`` are their scenarios)
    in_process: tuple[InProcess, ...] = ()  # references a partial run measures for this table


@dataclasses.dataclass(frozen=True, slots=True)
class Check:
    """One target: a scenario, what is compared, and the bound.

    ``measure``: ``x_floor`` (req/s ÷ the reference's req/s, ``Scenario.floor``; for a
    ``SERVERS`` reference that is another server config), ``p99_floor`` (p99 ÷ the
    reference's p99), ``p50_floor`` (p50 − the reference's p50, ms), ``images`` (examples/s,
    absolute), ``x_limit`` (examples/s ÷ in-process at the mean batch the server formed,
    same TF flags), ``x_batch`` (examples/s ÷ the best same-core in-process examples/s at the
    request's row count, over every TF variant measured)."""

    text: str
    scenario: Scenario
    measure: str
    bound: float


@dataclasses.dataclass(frozen=True, slots=True)
class InProcess:
    """A compute-limit reference: ``model`` called in-process at each batch size."""

    model: Model
    sizes: tuple[int, ...]
    hop_sizes: tuple[int, ...] = (1,)
    tf: str = "default"  # a TF_FLAGS key
    cpus: str = "0"  # taskset's list: the server's core, or "0,1" for both


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


def targets(title: str, note: str, checks: Sequence[Check], *in_process: InProcess) -> Table:
    """A table of verdicts; its rows are the checks' scenarios (references come along)."""
    checks = tuple(checks)
    return Table(title, note, "targets", tuple(c.scenario for c in checks), (), checks, in_process)


# 128: the batch 32-image requests form at c16 (``max_batch_size`` 128).
CNN_LIMITS = InProcess(CNN, (1, 2, 4, 8, 16, 32, 64, 128))
CNN_TF1 = InProcess(CNN, (1, 4, 16, 32, 64, 128), tf="tf1")
CNN_32_REFERENCES = (  # the thread-pool study's in-process rows
    CNN_LIMITS,
    CNN_TF1,
    InProcess(CNN, (32,), tf="tfcaller"),
    InProcess(CNN, (32,), cpus="0,1"),
    InProcess(CNN, (32,), tf="tf1", cpus="0,1"),
)
IN_PROCESS = (
    InProcess(DIGITS, (1, 2, 4, 8, 16, 32, 64, 100), (1, 100)),
    InProcess(HALF_PLUS_TWO, (1, 64)),
    InProcess(DIGITS, (1, 8, 64, 100), (1, 100), tf="tfcaller"),
    *CNN_32_REFERENCES,
)

WORKER_CONNECTIONS = 64  # SO_REUSEPORT balances connections, not calls: one per client
WORKERS = tuple(
    Scenario(server, p, SINGLE, 64, "" if server == "on-w1" else "on-w1",
             connections=WORKER_CONNECTIONS if p == "grpc" else 0)
    for p in SIDES
    for server in ("on-w1", "on-w2", "on-w2-tf2", "on-w2-pin")
)  # fmt: skip
CNN_32_STUDY = grid(("on", "on-tf1", "on-tfcaller", "on-2threads"), ("grpc",), (CNN_32,), (16,))
CNN_32_STUDY = tuple(dataclasses.replace(s, reference="") for s in CNN_32_STUDY)

ISSUE8_CHECKS = (
    *(
        Check(
            f"gRPC single, batching on, c{c} ≥ 0.85× floor",
            Scenario("on", "grpc", SINGLE, c),
            "x_floor",
            0.85,
        )
        for c in (16, 64)
    ),
    Check(
        "gRPC single, batching on, c64 p99 ≤ 1.5× floor p99",
        Scenario("on", "grpc", SINGLE, 64),
        "p99_floor",
        1.5,
    ),
    Check(
        "REST single, batching on, c64 ≥ 0.7× floor",
        Scenario("on", "rest", SINGLE, 64),
        "x_floor",
        0.7,
    ),
    *(
        Check("c1 p50 ≤ floor p50 + 0.15 ms", Scenario(s, p, SINGLE, 1), "p50_floor", 0.15)
        for p in SIDES
        for s in ("off", "on")
    ),
    *(
        Check(
            f"gRPC 100 images, c{c} ≥ 0.9× floor", Scenario(s, "grpc", HUNDRED, c), "x_floor", 0.9
        )
        for s in ("off", "on")
        for c in (16, 64)
    ),
    Check("CNN 32 images, c16 ≥ 0.8× in-process at batch 32", CNN_32_STUDY[0], "x_batch", 0.8),
    *(
        Check(
            f"--workers 2{' --worker_cpu_affinity' if s.server == 'on-w2-pin' else ''} ≥ 1.5× "
            f"--workers 1, {PROTOCOLS[s.protocol][1]} single c64, unpinned",
            s,
            "x_floor",
            1.5,
        )
        for s in WORKERS
        if s.server in ("on-w2", "on-w2-pin")
    ),
)
ISSUE3_CHECKS = (  # the issue-3 targets issue 8 does not restate
    *(Check(f"REST single, c{c} ≥ 0.7× floor", Scenario(s, "rest", SINGLE, c), "x_floor", 0.7)
      for s, c in (("on", 16), ("off", 16), ("off", 64))),
    *(Check(f"100-image requests ≥ {n:,} images/s {p} (off / on)", Scenario(s, p, HUNDRED, c),
            "images", n)
      for p, n in (("grpc", 26_000), ("rest", 7_700)) for c in (1, 16, 64) for s in ("off", "on")),
    *(Check("CNN batching on, c64 ≥ 0.8× in-process at the formed batch",
            Scenario(s, "grpc", CNN_SINGLE, 64) , "x_limit", 0.8)
      for s in ("on", "on-2threads", "on-tf1", "on-tfcaller")),
)  # fmt: skip


def columns(header: str) -> tuple[str, ...]:
    """Table columns written as their markdown header; keys of ``bench.tables.COLUMNS``."""
    return tuple(header.split("|"))


_C = "config|API|payload|c|examples/s|req/s|p50 ms|p99 ms"
SCENARIO_COLUMNS = columns(
    f"{_C}|× floor|p50 − floor ms|p99 ÷ floor|batch mean/max|limit ex/s|× limit|CPU µs/req|instr/req|"
    "server CPU %|gen CPU %|noise %|generator"
)
REQUEST_PATH_COLUMNS = columns(
    "config|API|c|req/s|floor req/s|× floor|p50 ms|floor p50 ms|p50 − floor ms|p99 ms|"
    "batch mean/max|CPU µs/req|instr/req|noise %|generator"
)
FLOOR_COLUMNS = columns(f"{_C}|runs|CPU µs/req|instr/req|server CPU %|gen CPU %|noise %|generator")
SEED_COLUMNS = columns(f"{_C}|CPU µs/req|instr/req|server CPU %|gen CPU %|noise %|generator")
V2_COLUMNS = columns(
    "config|API|c|req/s|× TF API|p50 ms|p50 − TF API ms|p99 ms|floor req/s|× floor|"
    "p50 − floor ms|batch mean/max|CPU µs/req|instr/req|noise %|generator"
)
STAGE_COLUMNS = columns("API|c|stage|req/s|p50 ms|p50 − floor ms|CPU µs/req|+CPU µs/req|instr/req")
WORKER_COLUMNS = columns(
    "config|API|c|connections|req/s|reference|× reference|p50 ms|p99 ms|batch mean/max|"
    "CPU µs/req|instr/req|server CPU %|gen CPU %|noise %|generator"
)
STUDY_COLUMNS = columns(
    "config|TF threads|CPUs|examples/s|req/s|p50 ms|p99 ms|batch mean/max|× in-process|"
    "CPU µs/example|instr/req|server CPU %|noise %"
)
FLAGS = Table("Server flags per configuration", "", "flags")
ISSUE8 = targets(
    "Issue 8 targets",
    "Each ratio is measured in this run, interleaved with its reference "
    "(the bare floor; for `--workers 2`, `--workers 1` under the same load, both unpinned). "
    "*In-process at batch 32* is the best same-core figure over the TF thread settings "
    "measured (see the thread-pool study).",
    ISSUE8_CHECKS,
    *CNN_32_REFERENCES,
)
CNN_STUDY = Table(
    "CNN, 32-image requests: TF's thread pools and the executor on one core",
    "gRPC Predict, "
    "`cnn-32` at c16, batching on, server pinned to CPU 0; in-process rows: "
    "`bench/inprocess.py` at batch 32, back-to-back calls on one thread, pinned to the CPUs "
    "shown. *TF threads*: `default` = TF's own pool sizes (intra-op = the CPUs it may use, "
    "inter-op likewise), `tf1` = intra/inter-op 1, `tfcaller` = inter-op −1 (the graph runs "
    "in the calling thread); `on-2threads` = two batch threads (two executor calls at once). "
    "*× in-process* = examples/s ÷ the same-core in-process figure with the same TF threads.",
    "study",
    CNN_32_STUDY,
    STUDY_COLUMNS,
    in_process=CNN_32_REFERENCES,
)
WORKER_TABLE = Table(
    "More than one core: `--workers 1` and `--workers 2` (unpinned)",
    "Single-example digits, "
    "batching on, c64; server and generator both unpinned (no `taskset`), so they share the "
    "two cores as the kernel schedules them; w1 and w2 runs interleaved. gRPC uses "
    f"{WORKER_CONNECTIONS} h2load connections (`SO_REUSEPORT` balances connections, not "
    "calls); REST uses 64 connections. `--workers 1` is one server process, as without the "
    "flag; `--workers 2` is a parent (no TensorFlow, serves nothing) and two worker "
    "processes, each given TF intra/inter-op pools of 1 thread (its share of the 2 CPUs); "
    "`on-w2-tf2` sizes each worker's pools for the whole machine (2 and 2, TF's own choice "
    "here), as `--workers` did before issue 21; `on-w2-pin` adds `--worker_cpu_affinity` "
    "(worker 0 on CPU 0, worker 1 on CPU 1; the generator still unpinned). *server CPU %* sums every process of the "
    "tree (`/proc/PID/stat` of the server and its descendants), of one core (200% = both "
    "cores); *CPU µs/req* follows from it; *instr/req* counts the tree's instructions with "
    "`perf stat` (n/a where the machine does not count them). The batch sizes are "
    "`/metrics`, which merges the workers.",
    "scenarios",
    WORKERS,
    WORKER_COLUMNS,
)
IN_PROCESS_TABLE = Table(
    "Compute limit (in-process, no server)",
    "`bench/inprocess.py`, pinned to the CPUs shown: "
    "a TF1 session as the server builds it (same session flags), its callable. *tight* = "
    "back-to-back calls on one thread; *hop* = each call sent from a uvloop loop to a worker "
    "thread with `run_in_executor` and awaited, one at a time.",
    "in_process",
)
FULL = (
    ISSUE8,
    targets("Issue 3 targets not restated by issue 8", "", ISSUE3_CHECKS),
    Table("Request path (single-example digits, c1 p50 and c64 req/s)", "", "scenarios",
          REQUEST_PATH, REQUEST_PATH_COLUMNS),
    Table("Digits model (the seed benchmark's model)", "", "scenarios", DIGITS_MATRIX,
          SCENARIO_COLUMNS),
    Table("CNN (compute-heavy)", "Floor columns compare with the digits floor: a CNN request "
          "and answer are the same bytes.", "scenarios", CNN_ROWS, SCENARIO_COLUMNS),
    CNN_STUDY,
    WORKER_TABLE,
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
    IN_PROCESS_TABLE,
    Table("Load while serving (issue 4)", "", "spike"),
    Table("Where the time goes (this run)", "Single-example digits requests, from the bare "
          "framework floor to the full server: each row adds one thing; the differences are to "
          "the floor row of the same API and concurrency.", "scenarios", STAGES, STAGE_COLUMNS),
    Table("Notes", "", "analysis"),
    FLAGS,
)  # fmt: skip
QUICK = (FULL[2], FLAGS)  # the request path
TARGETS = (ISSUE8, CNN_STUDY, WORKER_TABLE, IN_PROCESS_TABLE, FLAGS)  # issue 8's targets
