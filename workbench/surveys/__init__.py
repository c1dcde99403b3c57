"""Survey definitions, answers and their validation."""
