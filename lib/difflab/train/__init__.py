"""Training the course's small models on the shapes world (`difflab train <model>`)."""
