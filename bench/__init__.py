"""Benchmarks of the aioserving server; run with ``bench/run.sh [--quick]``.

``spec`` declares what is measured and one spec per table; ``prepare`` writes models and
request bodies; ``measure`` runs scenarios (``server.py`` and ``floor_server`` as pinned
subprocesses, ``loadgen`` or ``tools`` as the generator, batch sizes from ``/metrics``);
``inprocess`` and ``spike`` are the compute-limit and load-while-serving references;
``tables`` renders the report; ``run`` ties them together. Never collected by pytest
(``pytest.ini`` limits ``testpaths`` to ``tests``); outputs go to ``bench/out/``
(git-ignored), results to ``bench/RESULTS.md``.
"""
