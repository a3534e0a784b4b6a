"""GlassBench evaluation: metrics, physical baselines, the transfer matrix and reports (REFERENCE.md sections 2, 4).

- :mod:`~glassgen.bench.metrics`: rho_P, R^2, chi_4 of predicted and true fields, noise ceiling rho_max (numpy).
- :mod:`~glassgen.bench.replicas`: per-replica |dr| from isoconfigurational npz files, for rho_max.
- :mod:`~glassgen.bench.tasks`: :func:`evaluate` a prediction on a dataset; :func:`transfer_matrix` across T;
  :func:`transfer_task` trains at every temperature and scores at every other.
- :mod:`~glassgen.bench.baselines`: :func:`score_descriptor` for EPOT, DEN, PSI6, SBO, SBO_CG without training.
- :mod:`~glassgen.bench.report`: :func:`write_report` (JSON, Markdown, PNG); published numbers in
  :mod:`~glassgen.bench.published`.
"""

from glassgen.bench.baselines import BASELINES, DEFAULT_LENGTH, score_descriptor, with_inherent_states
from glassgen.bench.metrics import CHI4_THRESHOLD, Chi4Pair, chi4_pair, pearson, r2, rho_max, time_index
from glassgen.bench.published import GLASSBENCH
from glassgen.bench.replicas import replica_displacements
from glassgen.bench.report import write_report
from glassgen.bench.tasks import TAU_ALPHA, evaluate, label_time, transfer_matrix, transfer_task, true_labels

__all__ = [
    "BASELINES", "CHI4_THRESHOLD", "Chi4Pair", "DEFAULT_LENGTH", "GLASSBENCH", "TAU_ALPHA", "chi4_pair", "evaluate",
    "label_time", "pearson", "r2", "replica_displacements", "rho_max", "score_descriptor", "time_index",
    "transfer_matrix", "transfer_task", "true_labels", "with_inherent_states", "write_report",
]
