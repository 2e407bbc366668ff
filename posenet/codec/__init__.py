"""Model input and output encoding: letterboxing, PersonLab targets, TF.js pose decoding."""
