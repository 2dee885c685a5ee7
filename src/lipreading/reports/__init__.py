"""Evaluation reports: word confusion statistics, sentence error lists, plots and comparison tables."""
