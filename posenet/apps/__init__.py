"""Applications over the library: the inferencer behind `posenet infer`, video annotation, what the app serves."""
