"""retry."""
