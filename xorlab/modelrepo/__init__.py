"""The model repository format (placeholder until filled)."""
