"""The meta-model: from pair signals to a predicted transfer F1."""

from transferscout.meta.conformal import conformal_halfwidth, conformal_interval
from transferscout.meta.features import FEATURE_SETS, candidate_table, feature_columns
from transferscout.meta.regressor import TransferRegressor, leave_one_target_out

__all__ = [
    "FEATURE_SETS",
    "TransferRegressor",
    "candidate_table",
    "conformal_halfwidth",
    "conformal_interval",
    "feature_columns",
    "leave_one_target_out",
]
