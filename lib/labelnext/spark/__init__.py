"""Score and select runs too large for one machine on Apache Spark, with the same kernels.

Imported only when used (nothing else in labelnext imports it); it needs the optional extra
(``pip install 'labelnext[spark]'``) and a Java runtime, and importing it needs neither: pyspark
is imported by the functions that run a job.

* :func:`score_dataframe` adds ``score``, ``confidence`` and ``predicted_label`` to a DataFrame
  of predictions in any of our layouts; scores are in [0, 1], **higher = more uncertain**.
* :func:`select` returns the global top-k as :func:`labelnext.select.ranked` does, in the same
  order (score descending, ties by ``data_row_id``); the driver receives only those k rows.
* :func:`candidates` returns the ``m * k`` most uncertain rows and their embeddings, for a batch
  method to pick from on the driver.
* :func:`select_from_path` does it for a Parquet file, a directory, a glob or a run folder, in
  a session from :func:`get_session` (what ``labelnext select PATH --engine spark`` runs).
"""

from labelnext.spark.cli import (
    RunRecord,
    add_engine_arguments,
    candidates_from_path,
    read_run,
    run_record,
    select_from_path,
)
from labelnext.spark.engine import (
    METHODS,
    Candidates,
    candidates,
    layout_of,
    score_dataframe,
    select,
)
from labelnext.spark.files import ParquetFiles, find_parquet_files
from labelnext.spark.kernel import PROBLEM_BITS, Layout, describe_problems, score_arrays
from labelnext.spark.layout import SparkInputError
from labelnext.spark.session import (
    SparkMasterError,
    SparkUnavailableError,
    check_master,
    get_session,
    spark_available,
)

__all__ = [
    "METHODS",
    "PROBLEM_BITS",
    "Candidates",
    "Layout",
    "ParquetFiles",
    "RunRecord",
    "SparkInputError",
    "SparkMasterError",
    "SparkUnavailableError",
    "add_engine_arguments",
    "candidates",
    "candidates_from_path",
    "check_master",
    "describe_problems",
    "find_parquet_files",
    "get_session",
    "layout_of",
    "read_run",
    "run_record",
    "score_arrays",
    "score_dataframe",
    "select",
    "select_from_path",
    "spark_available",
]
