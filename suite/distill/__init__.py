"""Training the bundled models: tokenizer, target and base draft, and the KD drafts."""
