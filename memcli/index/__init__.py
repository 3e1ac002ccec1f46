"""Search indexes: tokenizer, BM25, and (later) embeddings, fusion and the on-disk store."""
