"""Per-clip preprocessing: MTCNN face crops and GAMDSS keyframe reselection."""
