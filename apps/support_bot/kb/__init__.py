"""Knowledge bases: FAQ files and documents parsed into entries, indexed for hybrid retrieval, kept on disk."""
