"""Turn paper abstracts from files into a deduplicated, chunked, embedded index."""
