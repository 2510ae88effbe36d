"""Conversation history: find (search, listing), manage (rename, archive, delete, titles),
export, and the transcript review. Each job is a module of its own."""
