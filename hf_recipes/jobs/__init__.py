"""Training jobs: recipe → Trainer → output directory. One module per CLI verb."""
