"""The knowledge base: loading files, chunking, embedding, storing and searching them."""
