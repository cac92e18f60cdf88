"""Reading recordings and reading/writing movies, chunk by chunk."""
