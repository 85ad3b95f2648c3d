"""Where pages are cleaned: a pool of worker processes on this machine
(pool.py, the default), or a Dask cluster (cluster.py); the invoking
process stays the one writer of WARC records and catalog rows, and keeps
fetching. Both are a `concurrent.futures.Executor` to the capture pipeline
and to ingest: one seam, `submit(clean_job, job, options)`. Their helper
processes start and end the same way (processes.py).

`--dask ADDRESS` connects to a running scheduler (`dask scheduler` and
`dask worker ADDRESS` processes, started by the user, on any machines that
reach each other over the network); `--dask local` starts a LocalCluster of
worker processes on this machine, its scheduler and the client that feeds
it in a process of their own. Workers need archiver installed and nothing
else: no shared disk, since pages travel to them and snapshots come back.
"""
