"""tf.data / TFDS pipelines that window long sequences into segments (see DESIGN.md section 5)."""
