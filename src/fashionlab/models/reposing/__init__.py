"""Re-posing: render the same person in a new pose (XingGAN and the PATN baseline)."""
