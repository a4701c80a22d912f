"""Evaluation on BEIR test sets: datasets, runs and metrics, report files, and the page's feedback store."""
