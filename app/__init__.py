"""The application: the composition root that builds and runs every part, and its metrics.

``supervisor.Supervisor`` turns the parsed configuration into running parts, starts them
in dependency order and stops them in reverse; ``serving_core`` builds the parts other
than the data plane and the frontends, ``platforms`` registers every model platform;
``metrics.ServerMetrics`` is the one Prometheus registry the parts report to;
``port_file`` writes the bound ports for tools.
"""
