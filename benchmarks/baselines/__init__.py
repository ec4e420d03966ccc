"""Reference servers that Queuehall is measured against (not part of the product)."""
