"""PolicyMiner: text mining for Chinese policy documents (filled in below)."""
