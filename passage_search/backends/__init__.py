"""Everything that needs an optional extra: builds on Ray ([distributed]) and the Milvus vector store ([milvus])."""
