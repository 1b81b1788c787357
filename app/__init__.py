"""The application: the composition root that builds and runs every part, and its metrics.

``supervisor.Supervisor`` turns the parsed configuration into running parts, starts them
in dependency order and stops them in reverse; ``metrics.ServerMetrics`` is the one
Prometheus registry the parts report to; ``port_file`` writes the bound ports for tools.
"""
