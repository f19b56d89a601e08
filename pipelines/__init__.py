"""tf.data / TFDS pipelines that window long sequences into segments."""
