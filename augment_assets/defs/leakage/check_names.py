"""The names of the checks every comparison with the holdout carries, declared once: checks.py names its checks
with them, and training_set waits on them before it scores the reference (a light module: no definitions)."""

NO_HOLDOUT_TEXT = "no_holdout_text"
NO_HOLDOUT_NEAR_DUPLICATE = "no_holdout_near_duplicate"
NO_COPIED_HOLDOUT_SPANS = "no_copied_holdout_spans"
HOLDOUT_COMPARISON_CHECKS = (NO_HOLDOUT_TEXT, NO_HOLDOUT_NEAR_DUPLICATE, NO_COPIED_HOLDOUT_SPANS)
