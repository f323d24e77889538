"""Model families written as plain PyTorch modules, built from configs (no weights)."""
