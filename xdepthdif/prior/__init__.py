"""What a pretrained diffusion prior is made of: checkpoint and model card, climatology, the
synthetic training world and training data."""
