package dev.loadtest.flushagent;

/** Parses the agent's argument string: empty, or {@code maxAgeMillis=<100..60000>}. */
final class AgentArguments {
  static final long DEFAULT_MAX_AGE_MILLIS = 1000;

  private AgentArguments() {}

  static long maxAgeMillis(String arguments) {
    if (arguments == null || arguments.isBlank()) {
      return DEFAULT_MAX_AGE_MILLIS;
    }
    String[] pair = arguments.trim().split("=", 2);
    if (pair.length != 2 || !pair[0].equals("maxAgeMillis")) {
      throw new IllegalArgumentException(
          "agent argument '" + arguments + "': expected maxAgeMillis=<milliseconds>, e.g. maxAgeMillis=1000");
    }
    long value;
    try {
      value = Long.parseLong(pair[1].trim());
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("maxAgeMillis '" + pair[1] + "' is not a whole number of milliseconds");
    }
    if (value < 100 || value > 60_000) {
      throw new IllegalArgumentException("maxAgeMillis=" + value + " is outside 100..60000");
    }
    return value;
  }
}
