"""Credit decisions: PDs, ratings, limit proposals, early warnings, collections worklist."""
