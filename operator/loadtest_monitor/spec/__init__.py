"""What a user writes: the custom resources' schemas, parsing, validation and the base Gatling config."""
