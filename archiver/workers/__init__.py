"""Where cleaning runs: a local pool of forked workers, or a Dask cluster."""
