"""Example programs of keras-rm (absl command lines); `training` holds what they share."""
