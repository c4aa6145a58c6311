"""Test corpora that several test layers judge (one source): image references, hostile specs,
generated HOCON. Data only; nothing here starts software."""
