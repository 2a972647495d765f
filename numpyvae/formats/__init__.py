"""File formats: atomic writes and strict JSON (``atomic``), PNG (``png``), checkpoints (``checkpoint``),
safetensors (``safetensors``) and the model file both are read through (``modelfile.load_model``)."""
