"""Text priors: motion and visual knowledge per class, their embeddings, and the priors file."""
