"""The Dask executor gives the same documents.jsonl as the local one (LocalCluster on 127.0.0.1)."""
from __future__ import annotations

import pytest

pytest.importorskip("distributed")


@pytest.mark.slow
def test_dask_local_cluster_matches_local_executor(tmp_path):
    from distributed import LocalCluster
    from test_run import make_corpus

    from pipeline.run import run

    corpus = tmp_path / "corpus"
    make_corpus(corpus, n=12)
    local = run([str(corpus)], tmp_path / "local", workers=1)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        dask = run([str(corpus)], tmp_path / "dask", executor="dask", scheduler=cluster.scheduler_address)
    assert (dask.processed, dask.skipped, dask.failed) == (local.processed, local.skipped, local.failed) == (12, 2, 2)
    assert (tmp_path / "dask" / "documents.jsonl").read_bytes() == (tmp_path / "local" / "documents.jsonl").read_bytes()
