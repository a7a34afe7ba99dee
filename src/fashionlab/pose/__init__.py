"""Re-posing (XingGAN / PATN): keypoints, pose heatmaps and the keypoint file format."""
