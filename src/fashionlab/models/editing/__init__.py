"""The parts every attribute editor shares (StarGAN, AMGAN, and the later baselines): manipulation codes,
generator and discriminator blocks, the mask crop, and the adversarial training task."""
