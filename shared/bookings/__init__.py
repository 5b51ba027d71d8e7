"""The booking life cycle: the source of truth every integration is reconciled against."""
