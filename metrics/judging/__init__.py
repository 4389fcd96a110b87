"""Judging statistics: win rates with ties, length-controlled win rates, Bradley-Terry, order and length bias,
inter-rater agreement."""

from evalsuite.metrics.judging.agreement import (
    Agreement, cohen_kappa, fleiss_kappa, fleiss_kappa_counts, krippendorff_alpha, spearman,
)
from evalsuite.metrics.judging.bradley_terry_fit import STYLE_FEATURES, fit_bradley_terry, style_features
from evalsuite.metrics.judging.length_control import (
    LC_CI, DifficultyTable, LengthControlled, length_controlled_win_rate, outcome_preferences, read_difficulty_table,
)
from evalsuite.metrics.judging.pairwise import (
    BRADLEY_TERRY_CI, FLIP, LOSS, OUTCOMES, SCORE, TIE, WIN, WIN_RATE_CI,
    BradleyTerry, LengthBias, OrderConsistency, SoftWinRate, WinRate,
    bradley_terry, combine_orders, longer_answer_win_share, position_bias, preference_value, soft_win_rate, win_rate,
)

__all__ = [
    "STYLE_FEATURES", "style_features",
    "LC_CI", "DifficultyTable", "LengthControlled", "length_controlled_win_rate", "outcome_preferences",
    "read_difficulty_table",
    "BRADLEY_TERRY_CI", "FLIP", "LOSS", "OUTCOMES", "SCORE", "TIE", "WIN", "WIN_RATE_CI",
    "Agreement", "BradleyTerry", "LengthBias", "OrderConsistency", "SoftWinRate", "WinRate",
    "bradley_terry", "cohen_kappa", "combine_orders", "fit_bradley_terry", "fleiss_kappa", "fleiss_kappa_counts",
    "krippendorff_alpha", "longer_answer_win_share", "position_bias", "preference_value", "soft_win_rate", "spearman",
    "win_rate",
]
