"""Sweeps: a grid of parameters x seeds, each point a complete isolated run on Dask.

`spec` reads and checks `conf/<env>/sweeps/<name>.yml`, `runner` runs the points on a
Dask cluster (a LocalCluster, or a scheduler started with `dask scheduler`) and finds
the points earlier invocations completed, `cli` is `kedro sweep`. The report is the
`sweep_report` pipeline.
"""
