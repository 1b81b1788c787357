"""The serving core: every part of the server except the frontends, built and wired.

``build_serving_core(config, ...)`` builds, from one validated ``ServerConfig``, what the
frontends serve from, one builder per wing, and starts nothing (every constructor here
does no I/O):

- metrics: one ``ServerMetrics`` registry; only configured models get their own label
  value, so clients cannot grow ``/metrics``;
- executor pool: inference threads (``--executor_threads``, or the batch threads when
  more), load and unload lanes;
- version manager: the routing table it publishes to, and its load/unload effect runner
  with the retry and timeout flags;
- source adapter: one loader factory per platform (``app.platforms``; each platform's
  library is imported on its first load);
- path poller: the model folders, local or in an object store (``--model_cache_dir``);
- batcher (only with ``--enable_batching``) and the call-cost estimate it shares with the
  data plane;
- config reloader: ReloadConfig requests, SIGHUP and a polled ``--model_config_file``;
- worker link: only when this process is one worker of ``--workers N``.

The supervisor (``app.supervisor``) adds the data plane and the frontends on top, and
starts and stops the parts in dependency order.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from actors.batcher import Batcher
from actors.call_costs import CallCosts
from actors.config_reloader import ConfigReloader
from actors.executor_pool import ExecutorPool, ExecutorPoolOptions
from actors.load_effects import LoadRetryOptions, TaskEffectRunner
from actors.messages import AspiredLoadersRequest, AspiredVersionRequest
from actors.object_store import ObjectStoreSource
from actors.path_poller import PathPoller
from actors.routing import RoutingTable
from actors.source_adapter import SourceAdapter
from actors.version_manager import ManagerOptions, VersionManager
from app.metrics import ServerMetrics
from app.platforms import LazyPlatform, platform_factories, warmup_options
from app.worker_link import WorkerIdentity, WorkerLink
from config.flags import AspiredVersionPolicy
from config.model_config import ModelServerSettings
from config.server_config import ServerConfig
from servables.model_caller import ModelCaller


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ServingCore:
    """The non-frontend parts of one server, wired to each other; none started."""

    routing: RoutingTable
    metrics: ServerMetrics
    executor: ExecutorPool
    manager: VersionManager
    effects: TaskEffectRunner
    platforms: dict[str, LazyPlatform]
    adapter: SourceAdapter
    poller: PathPoller
    costs: CallCosts
    batcher: Batcher | None
    reloader: ConfigReloader
    link: WorkerLink | None


def executor_pool(config: ServerConfig) -> ExecutorPool:
    """Enough inference threads for ``--executor_threads`` and for every batch thread."""
    options = config.options
    batch_threads = config.batching.num_batch_threads if config.batching else 0
    return ExecutorPool(
        ExecutorPoolOptions(
            inference_threads=max(options.executor_threads, batch_threads),
            load_threads=options.num_load_threads,
            unload_threads=options.num_unload_threads,
        )
    )


def version_manager(
    config: ServerConfig, routing: RoutingTable, executor: ExecutorPool, metrics: ServerMetrics
) -> tuple[VersionManager, TaskEffectRunner]:
    """The manager and the runner of its load/unload effects, each knowing the other."""
    options = config.options
    manager = VersionManager(
        routing=routing,
        options=ManagerOptions(
            resource_preserving=options.aspired_version_policy
            is AspiredVersionPolicy.RESOURCE_PRESERVING,
            allow_labels_for_unavailable=options.allow_version_labels_for_unavailable_models,
        ),
    )
    effects = TaskEffectRunner(
        manager=manager,
        executor=executor,
        retry=LoadRetryOptions(
            max_num_load_retries=options.max_num_load_retries,
            load_retry_interval_micros=options.load_retry_interval_micros,
            load_timeout_micros=options.model_load_timeout_micros,
        ),
        observer=metrics,
    )
    manager.set_effect_runner(effects)
    return manager, effects


def source_adapter(
    platforms: dict[str, LazyPlatform],
    *,
    platform_of: Callable[[str], str],
    send: Callable[[AspiredLoadersRequest], None],
) -> SourceAdapter:
    """Turns a model's aspired versions into loaders of its platform (``app.platforms``)."""
    return SourceAdapter(platform_of=platform_of, factories=dict(platforms), send=send)


def path_poller(config: ServerConfig, send: Callable[[AspiredVersionRequest], None]) -> PathPoller:
    """Watches every configured model's base path (a folder or an object-store URL)."""
    options = config.options
    return PathPoller(
        models=config.models.models,
        send=send,
        poll_wait_seconds=float(options.file_system_poll_wait_seconds),
        object_store=ObjectStoreSource(cache_dir=options.model_cache_dir or None),
    )


def batcher(
    config: ServerConfig, executor: ExecutorPool, metrics: ServerMetrics, costs: CallCosts
) -> Batcher | None:
    """The shared batcher when ``--enable_batching`` gave batching parameters, else None."""
    if config.batching is None:
        return None
    return Batcher(
        executor=executor,
        settings=config.batching,
        observer=metrics,
        costs=costs,
        cost_model=config.options.batching_cost_model,
    )


def config_reloader(
    config: ServerConfig,
    *,
    poller: PathPoller,
    manager: VersionManager,
    routing: RoutingTable,
    on_change: Callable[[ModelServerSettings], None],
) -> ConfigReloader:
    """Applies a new model config (ReloadConfig, SIGHUP, a polled config file)."""
    options = config.options
    return ConfigReloader(
        settings=config.models,
        poller=poller,
        manager=manager,
        routing=routing,
        allow_labels_for_unavailable=options.allow_version_labels_for_unavailable_models,
        config_file=str(options.model_config_file) if options.model_config_file else None,
        config_file_poll_wait_seconds=float(options.model_config_file_poll_wait_seconds),
        on_change=on_change,
        resident=config.repository_models,
    )


def worker_link(
    config: ServerConfig,
    worker: WorkerIdentity | None,
    *,
    reloader: ConfigReloader,
    metrics: ServerMetrics,
) -> WorkerLink | None:
    """With ``--workers N`` (N > 1): reloads and ``/metrics`` span every worker."""
    if worker is None:
        return None
    options = config.options
    polled = options.model_config_file if options.model_config_file_poll_wait_seconds > 0 else None
    return WorkerLink(
        worker, reloader=reloader, exposition=metrics.exposition, polled_config_file=polled
    )


def build_serving_core(
    config: ServerConfig,
    *,
    settings: Callable[[], ModelServerSettings],
    on_settings_changed: Callable[[ModelServerSettings], None],
    worker: WorkerIdentity | None,
    model_caller: ModelCaller | None = None,
) -> ServingCore:
    """Every non-frontend part, wired (see the module docstring).

    ``settings`` returns the model config in force now (it changes on a reload, after
    ``on_settings_changed`` was called with the new one): the metrics read it to tell a
    configured model, the source adapter to find a model's platform.
    """

    def platform_of(model_name: str) -> str:
        model = settings().model(model_name)
        return model.platform if model is not None else "tensorflow"

    routing = RoutingTable()
    metrics = ServerMetrics(model_known=lambda name: settings().model(name) is not None)
    executor = executor_pool(config)
    manager, effects = version_manager(config, routing, executor, metrics)
    platforms = platform_factories(
        config, warmup_options(config, metrics.warmup), model_caller=model_caller
    )
    adapter = source_adapter(platforms, platform_of=platform_of, send=manager.post)
    poller = path_poller(config, send=adapter.post)
    costs = CallCosts(config.options.inline_call_threshold_micros)
    reloader = config_reloader(
        config, poller=poller, manager=manager, routing=routing, on_change=on_settings_changed
    )
    return ServingCore(
        routing=routing,
        metrics=metrics,
        executor=executor,
        manager=manager,
        effects=effects,
        platforms=platforms,
        adapter=adapter,
        poller=poller,
        costs=costs,
        batcher=batcher(config, executor, metrics, costs),
        reloader=reloader,
        link=worker_link(config, worker, reloader=reloader, metrics=metrics),
    )
