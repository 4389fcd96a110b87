"""Judging statistics: win rates, Bradley-Terry, agreement."""
