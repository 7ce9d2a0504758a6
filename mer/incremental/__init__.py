"""The incremental MER benchmark (IMER): sessions across corpora, bound folds, learners, metrics."""
