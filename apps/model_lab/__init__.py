"""Model Lab: from a data file to a better model in the portal (preview, train, watch, evaluate, compare, register,
chat side by side)."""
